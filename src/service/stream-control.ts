import { createContextKey } from "@connectrpc/connect";

/**
 * Lets a server stream be ended from outside its generator. A watcher that stopped reading
 * leaves the transport parked on the socket's flow control, where the generator cannot throw;
 * when its queue overflows, the service aborts this controller with the error and a transport
 * that supports it (the gRPC listener) ends the call at once. Without it the error is sent
 * when the client reads again (memory stays bounded either way: the queue is dropped).
 */
export const streamAbortKey = createContextKey<AbortController | undefined>(undefined, {
  description: "taskcontrol stream abort",
});
