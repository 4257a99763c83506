import { randomUUID } from "node:crypto";
import type { IncomingMessage } from "node:http";
import type { Http2ServerRequest } from "node:http2";
import type { DescMethod } from "@bufbuild/protobuf";
import {
  Code,
  ConnectError,
  type ContextKey,
  type ContextValues,
  createContextKey,
  createContextValues,
  type HandlerContext,
  type Interceptor,
} from "@connectrpc/connect";
import type { Logger } from "../log.js";
import type { Metrics, Transport } from "../ops/metrics.js";
import { codeName } from "../ops/metrics.js";
import type { Admission, CallGuard } from "../security/call-guard.js";
import { principalKey } from "../service/principal.js";
import type { GrpcAdapterHooks } from "./grpc/adapter.js";
import { boundedError } from "./status.js";

/** The call's request id (the caller's x-request-id, or a fresh one): logs correlate by it. */
export const requestIdKey = createContextKey<string>("", { description: "taskcontrol request id" });

const admissionKey = createContextKey<Admission | undefined>(undefined, { description: "taskcontrol admission" });

/** Registers a listener for the end of the HTTP request's own stream; returns its removal. */
type OnRequestEnd = (listener: () => void) => () => void;

const requestEndKey = createContextKey<OnRequestEnd | undefined>(undefined, { description: "taskcontrol request end" });

/**
 * The end of a request as the HTTP server sees it, whatever connect-node is doing: an HTTP/2
 * stream closes (finished, reset, or its session gone); an HTTP/1.1 request ends with its
 * socket at the latest (a response cannot be cut short otherwise). connect-node writes a
 * stream's messages with a promise that waits for "drain" and never settles when the stream
 * is reset meanwhile, so an async iterator's finally is no place to release a stream slot.
 */
function requestEnd(req: IncomingMessage | Http2ServerRequest): OnRequestEnd {
  return (listener) => {
    const target = "stream" in req ? req.stream : req.socket;
    if (target.destroyed) {
      queueMicrotask(listener);
      return () => {};
    }
    target.once("close", listener);
    return () => target.off("close", listener);
  };
}

/** Header carrying the request id both ways. */
export const REQUEST_ID_HEADER = "x-request-id";

/** What a caller's request id may hold to be kept (short and harmless in a log line). */
const GIVEN_ID = /^[A-Za-z0-9._:/+=-]+$/;

/**
 * Fresh request ids: RFC 4122 version-4-shaped UUIDs, 74 random bits per process (from
 * randomUUID) followed by a 48-bit counter. They need to be unique, not unguessable (they are
 * only log correlation), and a counter is cheaper than a randomUUID per call.
 */
const freshRequestId = (() => {
  const base = randomUUID().slice(0, 24); // xxxxxxxx-xxxx-4xxx-yxxx-
  let n = 0;
  return () => base + (n++ % 0x1000000000000).toString(16).padStart(12, "0");
})();

/** A caller's request id is kept only if it is short and harmless in a log line. */
function requestIdOf(headers: Pick<Headers, "get">): string {
  const given = headers.get(REQUEST_ID_HEADER);
  return given && given.length <= 128 && GIVEN_ID.test(given) ? given : freshRequestId();
}

/**
 * Context values as connect's createContextValues keeps them (a value per key id, the key's
 * default otherwise), as a class: its methods live on the prototype, not three closures made
 * for every call.
 */
class CallValues implements ContextValues {
  get<T>(key: ContextKey<T>): T {
    return key.id in this ? (this as unknown as Record<symbol, T>)[key.id]! : key.defaultValue;
  }
  set<T>(key: ContextKey<T>, value: T): this {
    (this as unknown as Record<symbol, T>)[key.id] = value;
    return this;
  }
  delete(key: ContextKey<unknown>): this {
    delete (this as unknown as Record<symbol, unknown>)[key.id];
    return this;
  }
}

/** Options of createCallHooks. */
export interface CallHooksOptions {
  guard: CallGuard;
  metrics: Metrics;
  log: Logger;
}

/** The per-call lifecycle, plugged into each listener in its own idiom. */
export interface CallHooks {
  /** For startGrpcServer's hooks (without shutdownSignal, which the app adds). */
  readonly grpc: Omit<GrpcAdapterHooks, "shutdownSignal">;
  /** For startHttpServer: fresh values per request, tied to its end; the interceptor fills them. */
  readonly httpContextValues: (req: IncomingMessage | Http2ServerRequest) => ContextValues;
  /** For startHttpServer's interceptors. */
  readonly httpInterceptor: Interceptor;
}

/**
 * One admission path for both listeners: request id, authentication, authorization and
 * stream caps (the guard), then metrics, a debug log line and the stream slot's release
 * when the call ends. Each transport only adapts it to its own hooks.
 */
export function createCallHooks(options: CallHooksOptions): CallHooks {
  const { guard, metrics, log } = options;
  const debug = () => log.isLevelEnabled("debug");
  const streams = (m: DescMethod) => m.methodKind !== "unary";
  const serverStreams = (m: DescMethod) => m.methodKind === "server_streaming" || m.methodKind === "bidi_streaming";

  function begin(transport: Transport, headers: Pick<Headers, "get">, method: DescMethod, values: ContextValues): ContextValues {
    const requestId = requestIdOf(headers);
    values.set(requestIdKey, requestId);
    let admission: Admission;
    try {
      admission = guard.admit(headers, method);
    } catch (err) {
      const ce = ConnectError.from(err);
      ce.metadata.set(REQUEST_ID_HEADER, requestId);
      if (debug()) log.debug({ transport, method: method.name, requestId, code: codeName(ce.code), reason: ce.rawMessage }, "call refused");
      throw ce;
    }
    values.set(principalKey, admission.principal);
    values.set(admissionKey, admission);
    if (streams(method)) metrics.streamOpened(transport, method.name);
    return values;
  }

  function end(transport: Transport, method: DescMethod, code: Code | 0, ms: number, values: ContextValues | undefined): void {
    metrics.callEnded(transport, method.name, code, ms, serverStreams(method));
    const admission = values?.get(admissionKey);
    if (!admission) return;
    admission.release();
    if (streams(method)) metrics.streamClosed(transport, method.name);
    if (debug()) {
      log.debug(
        {
          transport,
          method: method.name,
          code: codeName(code),
          ms: Math.round(ms * 1000) / 1000,
          principal: admission.principal.name,
          requestId: values!.get(requestIdKey),
        },
        "call",
      );
    }
  }

  const httpInterceptor: Interceptor = (next) => async (req) => {
    const t0 = performance.now();
    const elapsed = () => performance.now() - t0;
    try {
      begin("http", req.header, req.method, req.contextValues);
    } catch (err) {
      end("http", req.method, ConnectError.from(err).code, elapsed(), undefined);
      throw boundedError(err);
    }
    const requestId = req.contextValues.get(requestIdKey);
    let ended = false;
    let unlisten: (() => void) | undefined;
    const finish = (code: Code | 0) => {
      if (ended) return;
      ended = true;
      unlisten?.();
      end("http", req.method, code, elapsed(), req.contextValues);
    };
    // Streams hold a slot: whichever comes first, the call's own end or its HTTP stream's,
    // gives it back (a stream that closes before the call ended was cut short by the peer).
    if (streams(req.method)) unlisten = req.contextValues.get(requestEndKey)?.(() => finish(Code.Canceled));
    const fail = (err: unknown): ConnectError => {
      const ce = boundedError(err);
      ce.metadata.set(REQUEST_ID_HEADER, requestId);
      finish(ce.code);
      return ce;
    };
    let res: Awaited<ReturnType<typeof next>>;
    try {
      res = await next(req);
    } catch (err) {
      throw fail(err);
    }
    res.header.set(REQUEST_ID_HEADER, requestId);
    if (!res.stream) {
      finish(0);
      return res;
    }
    const messages = res.message;
    async function* observed() {
      try {
        yield* messages;
        finish(0);
      } catch (err) {
        throw fail(err);
      } finally {
        // Neither done nor failed: the client went away.
        finish(Code.Canceled);
      }
    }
    return { ...res, message: observed() } as typeof res;
  };

  return {
    grpc: {
      contextValues: (headers, method) => begin("grpc", headers, method, new CallValues()),
      // The request id goes back as a response header (without a Headers built for it).
      onCallStart: (ctx: HandlerContext) => ({ [REQUEST_ID_HEADER]: ctx.values.get(requestIdKey) }),
      onCallEnd: (method, code, ms, values) => end("grpc", method, code, ms, values),
    },
    httpContextValues: (req) => {
      const values = createContextValues();
      values.set(requestEndKey, requestEnd(req));
      return values;
    },
    httpInterceptor,
  };
}
