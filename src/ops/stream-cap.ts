import * as grpc from "@grpc/grpc-js";

/** A budget of open streams for services anyone may call without a token (health, reflection). */
export interface StreamCap {
  /** Takes a slot for `call` (released once when it ends), or ends it RESOURCE_EXHAUSTED. */
  admit(call: grpc.ServerWritableStream<unknown, unknown> | grpc.ServerDuplexStream<unknown, unknown>): boolean;
  /** Streams open now. */
  readonly open: number;
}

/**
 * Caps the streams open at once in total and per remote address (port dropped), so that
 * unauthenticated Health.Watch and reflection streams cannot grow memory without bound.
 */
export function createStreamCap(options: { total: number; perAddress: number }): StreamCap {
  const byAddress = new Map<string, number>();
  let open = 0;
  return {
    get open() {
      return open;
    },
    admit(call) {
      const address = call.getPeer().replace(/:\d+$/, "");
      const mine = byAddress.get(address) ?? 0;
      if (open >= options.total || mine >= options.perAddress) {
        const which = open >= options.total ? `${options.total} in total` : `${options.perAddress} from ${address}`;
        call.emit("error", {
          code: grpc.status.RESOURCE_EXHAUSTED,
          details: `too many open health/reflection streams (${which}); close one or poll Check`,
        });
        return false;
      }
      open++;
      byAddress.set(address, mine + 1);
      let released = false;
      const release = () => {
        if (released) return;
        released = true;
        open--;
        const left = (byAddress.get(address) ?? 1) - 1;
        if (left === 0) byAddress.delete(address);
        else byAddress.set(address, left);
      };
      call.once("cancelled", release);
      call.once("finish", release);
      call.once("close", release);
      call.once("error", release);
      return true;
    },
  };
}

/**
 * The `addService` of `server` with every streaming handler put behind `cap`: hand it to a
 * library's addToServer (health, reflection) in place of the server.
 */
export function cappedServer(server: grpc.Server, cap: StreamCap | undefined): Pick<grpc.Server, "addService"> {
  return {
    addService(definition, implementation) {
      if (!cap) return server.addService(definition, implementation);
      const wrapped: grpc.UntypedServiceImplementation = { ...implementation };
      for (const [name, method] of Object.entries(definition)) {
        const handler = implementation[name] ?? implementation[method.originalName ?? ""];
        if (!method.responseStream || typeof handler !== "function") continue;
        const capped = (call: grpc.ServerWritableStream<unknown, unknown>) => {
          if (cap.admit(call)) (handler as (c: typeof call) => void)(call);
        };
        wrapped[name] = capped as grpc.UntypedHandleCall;
        if (method.originalName) wrapped[method.originalName] = capped as grpc.UntypedHandleCall;
      }
      server.addService(definition, wrapped);
    },
  };
}
