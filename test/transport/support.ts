import * as net from "node:net";
import { createContextValues, type ServiceImpl } from "@connectrpc/connect";
import * as grpc from "@grpc/grpc-js";
import { parseHostPort } from "../../src/shared/address.js";
import { grpcService } from "../../src/transport/grpc/adapter.js";
import { grpcClient, type GrpcTestClient } from "../support/grpc-client.js";
import { TaskControlService } from "../../gen/taskcontrol/v1/task_control_service_pb.js";

/** A raw TCP connection to host:port that records what it receives and when it closes. */
export interface RawSocket {
  readonly socket: net.Socket;
  /** Everything received so far, as latin1. */
  received(): string;
  /** Resolves when the server closed (or reset) the connection. */
  readonly closed: Promise<void>;
  /** Resolves once the connection is established (rejects if refused). */
  readonly connected: Promise<void>;
  destroy(): void;
}

/** Opens a raw socket; errors (ECONNRESET from a shed connection) only close it. */
export function rawSocket(address: string, options: { allowHalfOpen?: boolean } = {}): RawSocket {
  const { host, port } = parseHostPort(address);
  const socket = net.connect({
    host,
    port,
    allowHalfOpen: options.allowHalfOpen ?? false,
  });
  let data = "";
  socket.on("data", (d: Buffer) => (data += d.toString("latin1")));
  socket.on("error", () => undefined);
  const closed = new Promise<void>((resolve) => socket.once("close", () => resolve()));
  const connected = new Promise<void>((resolve, reject) => {
    socket.once("connect", () => resolve());
    socket.once("error", reject);
  });
  connected.catch(() => undefined);
  return { socket, received: () => data, closed, connected, destroy: () => socket.destroy() };
}

/** "settled" if `p` settles within ms, else "timeout" (the timer is cleared either way). */
export async function within(p: Promise<unknown>, ms: number): Promise<"settled" | "timeout"> {
  let timer: NodeJS.Timeout | undefined;
  const t = new Promise<"timeout">((resolve) => (timer = setTimeout(() => resolve("timeout"), ms)));
  try {
    return await Promise.race([p.then(() => "settled" as const, () => "settled" as const), t]);
  } finally {
    clearTimeout(timer);
  }
}

/** Writes `chunks` one every `everyMs` until the socket closes or they run out. */
export async function trickle(socket: net.Socket, chunks: string[], everyMs: number): Promise<void> {
  for (const c of chunks) {
    if (socket.destroyed || !socket.writable) return;
    socket.write(c);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/**
 * A grpc-js server on 127.0.0.1:0 serving `impl` through the adapter (src/transport/grpc), with
 * no authentication, and a test client for it; stop() closes both.
 */
export async function adapterServer(
  impl: ServiceImpl<typeof TaskControlService>,
  shutdown: AbortSignal,
): Promise<{ server: grpc.Server; client: GrpcTestClient; stop(): void }> {
  const { definition, handlers } = grpcService(TaskControlService, impl, { contextValues: () => createContextValues(), shutdownSignal: shutdown });
  const server = new grpc.Server();
  server.addService(definition, handlers);
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
  );
  const client = grpcClient(`127.0.0.1:${port}`);
  return {
    server,
    client,
    stop() {
      client.close();
      server.forceShutdown();
    },
  };
}
