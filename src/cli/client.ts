// taskctl's connection: native gRPC (HTTP/2) to the service's gRPC listener through
// connect-node, so the CLI exercises the same listener workers use.
import { Code, ConnectError, createClient, type Client, type Interceptor } from "@connectrpc/connect";
import { createGrpcTransport } from "@connectrpc/connect-node";
import { errorReason, fieldViolations } from "../client/error-details.js";
import { TaskControlService } from "../../gen/taskcontrol/v1/task_control_service_pb.js";
import { parseServerAddress } from "../shared/address.js";

/** The typed client every command uses. */
export type TaskControlClient = Client<typeof TaskControlService>;

/** Where the CLI connects when neither --server nor TASKCONTROL_ADDRESS says otherwise. */
export const DEFAULT_SERVER = "http://127.0.0.1:50051";

/**
 * Accepts "host:port", "http://host:port" or "https://host:port" (the forms every client
 * takes); returns a base URL. Throws AddressError, saying what is wrong, for anything else.
 */
export function normalizeServer(address: string): string {
  return parseServerAddress(address).baseUrl;
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

/** A one-line reason for a failed call (its ErrorInfo reason, bad fields), with a hint for the usual causes. */
export function failureText(err: unknown, server: string): string {
  if (err instanceof ConnectError) {
    const reason = errorReason(err);
    const fields = fieldViolations(err).map((v) => `${v.field} ${v.description}`);
    const code = Code[err.code] ?? "Error";
    const name = reason ? `${code} (${reason})` : code;
    if (fields.length > 0) return `${name}: ${fields.join("; ")}`;
    switch (err.code) {
      case Code.Unavailable:
        return `${name}: ${err.rawMessage} (is the server running at ${server}? set --server or TASKCONTROL_ADDRESS)`;
      case Code.Unauthenticated:
        return `${name}: ${err.rawMessage} (pass --token or set TASKCONTROL_TOKEN)`;
      default:
        return `${name}: ${err.rawMessage}`;
    }
  }
  return err instanceof Error ? err.message : String(err);
}

