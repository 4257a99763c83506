// taskctl's connection: native gRPC (HTTP/2) to the service's gRPC listener through
// connect-node, so the CLI exercises the same listener workers use.
import { createClient, type Client, type Interceptor } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { TaskControlService } from "../../gen/taskcontrol/v1/task_control_service_pb.js";

/** The typed client every command uses. */
export type TaskControlClient = Client<typeof TaskControlService>;

/** Where the CLI connects when neither --server nor TASKCONTROL_ADDRESS says otherwise. */
export const DEFAULT_SERVER = "http://127.0.0.1:50051";

/** Accepts "host:port", "http://host:port" or "https://host:port"; returns a base URL. */
export function normalizeServer(address: string): string {
  const trimmed = address.trim().replace(/\/+$/, "");
  if (/^https?:\/\//i.test(trimmed)) return trimmed;
  return `http://${trimmed}`;
}

/** Adds the bearer token to every call (the service reads `authorization` metadata). */
export function bearer(token: string): Interceptor {
  return (next) => async (req) => {
    req.header.set("authorization", `Bearer ${token}`);
    return next(req);
  };
}

/** Builds a client for one CLI run; the HTTP/2 session ends with the process. */
export function createCliClient(options: { server: string; token?: string | undefined }): TaskControlClient {
  const interceptors = options.token ? [bearer(options.token)] : [];
  const transport = createGrpcTransport({ baseUrl: normalizeServer(options.server), interceptors });
  return createClient(TaskControlService, transport);
}
