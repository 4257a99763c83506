import type { DescService } from "@bufbuild/protobuf";
import type { ServiceImpl } from "@connectrpc/connect";
import * as grpc from "@grpc/grpc-js";
import { LIMITS } from "../../domain/limits.js";
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
  const server = new grpc.Server({
    "grpc.max_receive_message_length": LIMITS.messageBytes,
    "grpc.max_send_message_length": LIMITS.messageBytes,
    // Idle held calls (confirmations, watches) stay open; keepalive finds dead peers.
    "grpc.keepalive_time_ms": 30_000,
    "grpc.keepalive_timeout_ms": 10_000,
    "grpc.keepalive_permit_without_calls": 1,
    "grpc.http2.min_ping_interval_without_data_ms": 5_000,
  });
  const { definition, handlers } = grpcService(options.service, options.impl, options.hooks);
  server.addService(definition, handlers);
  options.extra?.(server);
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync(options.listen, options.credentials ?? grpc.ServerCredentials.createInsecure(), (err, p) =>
      err ? reject(err) : resolve(p),
    ),
  );
  const host = options.listen.slice(0, options.listen.lastIndexOf(":"));
  return {
    address: `${host}:${port}`,
    server,
    close: (graceMs) =>
      new Promise<void>((resolve) => {
        const timer = setTimeout(() => {
          server.forceShutdown();
          resolve();
        }, graceMs);
        server.tryShutdown(() => {
          clearTimeout(timer);
          resolve();
        });
      }),
  };
}
