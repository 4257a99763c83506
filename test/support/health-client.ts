import * as grpc from "@grpc/grpc-js";
import { service as healthService } from "grpc-health-check";

/** A grpc.health.v1 client (Check, Watch) built from the grpc-health-check package's service. */
export type HealthClient = grpc.Client & {
  check(req: { service: string }, cb: (err: grpc.ServiceError | null, res?: { status: string }) => void): void;
  watch(req: { service: string }): grpc.ClientReadableStream<{ status: string }>;
};

/** A health client on `address` (plaintext). */
export function healthClient(address: string): HealthClient {
  const Ctor = grpc.makeGenericClientConstructor(healthService as unknown as grpc.ServiceDefinition, "Health");
  return new Ctor(address, grpc.credentials.createInsecure()) as unknown as HealthClient;
}
