/**
 * The kit's only way to the server: connect-es clients built from the generated service
 * descriptor in gen/, over one of the three protocols. Nothing here knows the server's code.
 * Requests are written in the cases as proto JSON and answers read back as proto JSON, so a
 * case says `status: TASK_STATUS_RUNNING` or `leaseDuration: 1s` exactly as the contract does.
 */
import { fromJson, toJson, type DescMethod, type JsonValue } from "@bufbuild/protobuf";
import { Code, ConnectError, createClient, type Interceptor, type Transport } from "@connectrpc/connect";
import { createConnectTransport, createGrpcTransport, createGrpcWebTransport } from "@connectrpc/connect-node";
import { BadRequestSchema, ErrorInfoSchema } from "../../gen/google/rpc/error_details_pb.js";
import { TaskControlService } from "../../gen/taskcontrol/v1/task_control_service_pb.js";

/** The wire protocols the kit speaks. */
export const PROTOCOLS = ["grpc", "connect", "grpc-web"] as const;
export type Protocol = (typeof PROTOCOLS)[number];

/** Where and how the kit calls a server. */
export interface WireOptions {
  /** Base URL of the listener, e.g. http://127.0.0.1:50051. */
  target: string;
  protocol: Protocol;
  /** Sent as `authorization: Bearer <token>` on every call. */
  token?: string;
  /** HTTP version; gRPC always uses 2. @default "2" */
  httpVersion?: "1.1" | "2";
}

/** A status a call ended with, reduced to what the cases check. */
export interface WireError {
  /** The code in snake case, as the cases write it ("invalid_argument"). */
  code: string;
  message: string;
  reason?: string;
  domain?: string;
  metadata: Record<string, string>;
  /** BadRequest field paths, in the order sent. */
  violations: string[];
}

/** A server stream opened by a case: messages as proto JSON, then its end. */
export interface OpenStream {
  next(withinMs: number): Promise<{ message: JsonValue } | { end: WireError | null } | { timeout: true }>;
  drop(): void;
}

type Unary = (req: unknown, opts?: { signal?: AbortSignal; timeoutMs?: number }) => Promise<unknown>;
type ServerStream = (req: unknown, opts?: { signal?: AbortSignal }) => AsyncIterable<unknown>;
type ClientStream = (reqs: AsyncIterable<unknown>, opts?: { signal?: AbortSignal; timeoutMs?: number }) => Promise<unknown>;

/** Proto JSON of a message, zero values included, so a case can expect `found: false`. */
function json(method: DescMethod, message: unknown): JsonValue {
  return toJson(method.output, message as never, { alwaysEmitImplicit: true });
}

/** The snake_case name of a code ("invalid_argument"). */
export function codeName(code: Code): string {
  return Code[code].replace(/([a-z])([A-Z])/g, "$1_$2").toLowerCase();
}

/** Reads the status and the google.rpc details of any error a call threw. */
export function wireError(err: unknown): WireError {
  const e = ConnectError.from(err);
  const info = e.findDetails(ErrorInfoSchema)[0];
  const bad = e.findDetails(BadRequestSchema)[0];
  return {
    code: codeName(e.code),
    message: e.rawMessage,
    reason: info?.reason,
    domain: info?.domain,
    metadata: { ...(info?.metadata ?? {}) },
    violations: (bad?.fieldViolations ?? []).map((v) => v.field),
  };
}

/** A TaskControlService client on one protocol, driven by method name and proto JSON. */
export interface Wire {
  unary(method: string, request: JsonValue, timeoutMs: number): Promise<JsonValue>;
  clientStream(method: string, requests: JsonValue[], timeoutMs: number): Promise<JsonValue>;
  serverStream(method: string, request: JsonValue): OpenStream;
  /** Every method of the service by its proto name. */
  readonly methods: ReadonlyMap<string, DescMethod>;
}

export function transportFor(options: WireOptions): Transport {
  const auth: Interceptor = (next) => (req) => {
    if (options.token) req.header.set("authorization", `Bearer ${options.token}`);
    return next(req);
  };
  const base = { baseUrl: options.target, interceptors: [auth] };
  const httpVersion = options.httpVersion ?? "2";
  switch (options.protocol) {
    case "grpc":
      return createGrpcTransport(base);
    case "connect":
      return createConnectTransport({ ...base, httpVersion });
    case "grpc-web":
      return createGrpcWebTransport({ ...base, httpVersion });
  }
}

export function createWire(options: WireOptions): Wire {
  const client = createClient(TaskControlService, transportFor(options)) as unknown as Record<string, unknown>;
  const methods = new Map(TaskControlService.methods.map((m) => [m.name, m as DescMethod] as const));
  const method = (name: string, kind: DescMethod["methodKind"]): DescMethod => {
    const m = methods.get(name);
    if (!m) throw new Error(`no method ${name} in ${TaskControlService.typeName}`);
    if (m.methodKind !== kind) throw new Error(`${name} is ${m.methodKind}, not ${kind}`);
    return m;
  };
  return {
    methods,
    async unary(name, request, timeoutMs) {
      const m = method(name, "unary");
      const res = await (client[m.localName] as Unary)(fromJson(m.input, request), { timeoutMs });
      return json(m, res);
    },
    async clientStream(name, requests, timeoutMs) {
      const m = method(name, "client_streaming");
      const msgs = requests.map((r) => fromJson(m.input, r));
      async function* source() {
        yield* msgs;
      }
      const res = await (client[m.localName] as ClientStream)(source(), { timeoutMs });
      return json(m, res);
    },
    serverStream(name, request) {
      const m = method(name, "server_streaming");
      const abort = new AbortController();
      const queue: JsonValue[] = [];
      let ended: { error: WireError | null } | undefined;
      let wake: (() => void) | undefined;
      const input = fromJson(m.input, request);
      void (async () => {
        try {
          for await (const res of (client[m.localName] as ServerStream)(input, { signal: abort.signal })) {
            queue.push(json(m, res));
            wake?.();
          }
          ended = { error: null };
        } catch (err) {
          ended = { error: wireError(err) };
        }
        wake?.();
      })();
      return {
        async next(withinMs) {
          const deadline = Date.now() + withinMs;
          for (;;) {
            const message = queue.shift();
            if (message !== undefined) return { message };
            if (ended) return { end: ended.error };
            const left = deadline - Date.now();
            if (left <= 0) return { timeout: true };
            await new Promise<void>((resolve) => {
              const timer = setTimeout(resolve, left);
              wake = () => {
                clearTimeout(timer);
                resolve();
              };
            });
            wake = undefined;
          }
        },
        drop() {
          abort.abort();
        },
      };
    },
  };
}
