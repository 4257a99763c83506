import { randomUUID } from "node:crypto";
import type { DescMethod } from "@bufbuild/protobuf";
import {
  Code,
  ConnectError,
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

/** Header carrying the request id both ways. */
export const REQUEST_ID_HEADER = "x-request-id";

/** A caller's request id is kept only if it is short and harmless in a log line. */
function requestIdOf(headers: Headers): string {
  const given = headers.get(REQUEST_ID_HEADER);
  return given && given.length <= 128 && /^[A-Za-z0-9._:/+=-]+$/.test(given) ? given : randomUUID();
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
  /** For startHttpServer: fresh values per request; the interceptor fills them. */
  readonly httpContextValues: () => ContextValues;
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

  function begin(transport: Transport, headers: Headers, method: DescMethod, values: ContextValues): ContextValues {
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
    const finish = (code: Code | 0) => {
      if (ended) return;
      ended = true;
      end("http", req.method, code, elapsed(), req.contextValues);
    };
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
      contextValues: (headers, method) => begin("grpc", headers, method, createContextValues()),
      onCallStart(ctx: HandlerContext) {
        ctx.responseHeader.set(REQUEST_ID_HEADER, ctx.values.get(requestIdKey));
      },
      onCallEnd: (method, code, ms, values) => end("grpc", method, code, ms, values),
    },
    httpContextValues: () => createContextValues(),
    httpInterceptor,
  };
}
