// The browser's one client of the service: Connect protocol over fetch, same origin,
// with the bearer token (if any) added by an interceptor so every call carries it.
import { Code, ConnectError, createClient, type Client, type Interceptor } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-web";
import { fieldViolations as violationsOf } from "../../src/client/error-details.js";
import { TaskControlService } from "../../gen/taskcontrol/v1/task_control_service_pb.js";

/** The typed client every module of the page shares (one transport, one token). */
export type TaskControlClient = Client<typeof TaskControlService>;

const TOKEN_KEY = "taskcontrol.token";

/** Keeps the user's token for this tab only (sessionStorage), so it dies with the tab. */
export interface TokenStore {
  get(): string;
  set(token: string): void;
  clear(): void;
}

/** Builds the token store over sessionStorage, falling back to memory when storage is blocked. */
export function createTokenStore(storage: Storage | undefined): TokenStore {
  let memory = "";
  return {
    get() {
      try {
        return storage?.getItem(TOKEN_KEY) ?? memory;
      } catch {
        return memory;
      }
    },
    set(token) {
      memory = token;
      try {
        storage?.setItem(TOKEN_KEY, token);
      } catch {
        // Storage may be disabled (private mode); the in-memory copy still works for this page.
      }
    },
    clear() {
      memory = "";
      try {
        storage?.removeItem(TOKEN_KEY);
      } catch {
        // see set()
      }
    },
  };
}

/** Adds `Authorization: Bearer <token>` when a token is stored; with auth off nothing is sent. */
export function bearerInterceptor(tokens: TokenStore): Interceptor {
  return (next) => async (req) => {
    const token = tokens.get();
    if (token !== "") req.header.set("Authorization", `Bearer ${token}`);
    return next(req);
  };
}

/** Creates the client against the page's own origin, where the HTTP listener serves Connect. */
export function createTaskControlClient(baseUrl: string, tokens: TokenStore): TaskControlClient {
  const transport = createConnectTransport({ baseUrl, interceptors: [bearerInterceptor(tokens)] });
  return createClient(TaskControlService, transport);
}

/** True when the call failed for want of a (valid) token: the page then asks for one. */
export function isUnauthenticated(err: unknown): boolean {
  return err instanceof ConnectError && err.code === Code.Unauthenticated;
}

/** The bad fields a failed call names (google.rpc.BadRequest), by request path. */
export function fieldViolations(err: unknown): { field: string; description: string }[] {
  return err instanceof ConnectError ? violationsOf(err) : [];
}

/** A short message for the user: the server's text without the "[code]" prefix noise. */
export function errorText(err: unknown): string {
  if (err instanceof ConnectError) return `${Code[err.code] ?? "Error"}: ${err.rawMessage}`;
  if (err instanceof Error) return err.message;
  return String(err);
}
