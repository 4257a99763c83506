import type { DescService } from "@bufbuild/protobuf";
import type { ServiceImpl } from "@connectrpc/connect";
import * as net from "node:net";
import * as grpc from "@grpc/grpc-js";
import { LIMITS } from "../../domain/limits.js";
import { type ConnectionOptions, DEFAULT_CONNECTION_OPTIONS } from "../http/connections.js";
import { listenOn } from "../listen.js";
import { type GrpcAdapterHooks, grpcService } from "./adapter.js";

/** Options of startGrpcServer. */
export interface GrpcServerOptions<S extends DescService> {
  /** host:port; port 0 picks a free one. */
  listen: string;
  service: S;
  impl: ServiceImpl<S>;
  hooks: GrpcAdapterHooks;
  /** Server credentials; insecure when omitted. */
  credentials?: grpc.ServerCredentials;
  /** Extra services (health, reflection) added as they are. */
  extra?: (server: grpc.Server) => void;
  /** Idle timeout, keepalive and the connection cap. @default DEFAULT_CONNECTION_OPTIONS */
  connections?: ConnectionOptions;
}

/** A listening gRPC server. */
export interface GrpcServer {
  /** host:port actually bound. */
  readonly address: string;
  readonly server: grpc.Server;
  /** Stops accepting, waits for calls up to `graceMs`, then cancels what is left. */
  close(graceMs: number): Promise<void>;
}

/** Starts the native gRPC listener (the workers' hot path). */
export async function startGrpcServer<S extends DescService>(options: GrpcServerOptions<S>): Promise<GrpcServer> {
  const limits = options.connections ?? DEFAULT_CONNECTION_OPTIONS;
  const server = new grpc.Server({
    "grpc.max_receive_message_length": LIMITS.messageBytes,
    "grpc.max_send_message_length": LIMITS.messageBytes,
    // Held calls (confirmations, watches) are open streams: the idle timeout never cuts them,
    // it closes connections without any call (a silent socket, a client gone quiet).
    "grpc.max_connection_idle_ms": limits.http2IdleTimeoutMs,
    // Keepalive PINGs find dead peers under silent held calls.
    "grpc.keepalive_time_ms": limits.keepaliveIntervalMs,
    "grpc.keepalive_timeout_ms": limits.keepaliveTimeoutMs,
    "grpc.keepalive_permit_without_calls": 1,
    "grpc.http2.min_ping_interval_without_data_ms": 5_000,
    // Nothing here serves channelz (grpc.channelz.v1), and its per-call tracker is an object
    // with four closures that every held stream keeps for its life (and counters every call
    // updates): off.
    "grpc.enable_channelz": 0,
  });
  const { definition, handlers } = grpcService(options.service, options.impl, options.hooks);
  server.addService(definition, handlers);
  options.extra?.(server);
  // grpc-js has no connection cap: accept the sockets here, where net.Server's
  // maxConnections sheds the newest past the cap, and inject the rest into grpc-js.
  const injector = server.createConnectionInjector(options.credentials ?? grpc.ServerCredentials.createInsecure());
  // Accepted sockets, so that close() can end the ones grpc-js never made a session of (a
  // peer that sent no HTTP/2 preface): its shutdown does not know them.
  const sockets = new Set<net.Socket>();
  const listener = net.createServer((socket) => {
    sockets.add(socket);
    socket.on("close", () => sockets.delete(socket));
    injector.injectConnection(socket);
  });
  listener.maxConnections = limits.maxConnections;
  const address = await listenOn(listener, options.listen);
  const stopAccepting = () => listener.close();
  return {
    address,
    server,
    close: (graceMs) =>
      new Promise<void>((resolve) => {
        stopAccepting();
        const done = () => {
          for (const socket of sockets) socket.destroy();
          resolve();
        };
        const timer = setTimeout(() => {
          server.forceShutdown();
          done();
        }, graceMs);
        server.tryShutdown(() => {
          clearTimeout(timer);
          done();
        });
      }),
  };
}
