import type * as net from "node:net";
import { formatHostPort, parseHostPort } from "../shared/address.js";

/** Why a listener could not bind; main turns it into one line naming the flag. */
export class ListenError extends Error {
  constructor(
    /** The address as configured, e.g. "127.0.0.1:50051". */
    readonly address: string,
    /** The system error code (EADDRINUSE, EACCES, …), when there is one. */
    readonly code: string | undefined,
    message: string,
  ) {
    super(message);
  }
}

const ADVICE: Record<string, string> = {
  EADDRINUSE: "the port is in use by another process: stop it or choose another port (0 picks a free one)",
  EACCES: "permission denied: ports below 1024 need privileges, choose a port of 1024 or above",
  EADDRNOTAVAIL: "this machine has no such address: listen on 127.0.0.1 or one of its own addresses",
  ENOTFOUND: "the host name does not resolve: use an IP address or a name this machine knows",
  EAI_AGAIN: "the host name does not resolve: use an IP address or a name this machine knows",
};

/**
 * Binds `server` to a "host:port" address (IPv6 in brackets, port 0 for a free one) and
 * returns the address it bound, in the same form with the real port.
 */
export async function listenOn(server: net.Server, address: string): Promise<string> {
  const { host, port } = parseHostPort(address);
  await new Promise<void>((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException) => {
      const advice = (err.code && ADVICE[err.code]) ?? err.message;
      reject(new ListenError(address, err.code, `cannot listen on ${address}: ${advice}`));
    };
    server.once("error", onError);
    server.listen(port, host, () => {
      server.off("error", onError);
      resolve();
    });
  });
  return formatHostPort(host, (server.address() as net.AddressInfo).port);
}
