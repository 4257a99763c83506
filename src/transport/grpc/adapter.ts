import type { DescMethod, DescService } from "@bufbuild/protobuf";
import {
  Code,
  ConnectError,
  type ContextValues,
  type HandlerContext,
  type ServiceImpl,
} from "@connectrpc/connect";
import * as grpc from "@grpc/grpc-js";
import { StreamEnd, streamAbortKey } from "../../service/stream-control.js";
import { decoded, deserializer, metadataToHeaders, serializer, toMetadata, toStatus } from "./codec.js";
import { StreamPump } from "./stream-pump.js";

/** Per-call hooks the composition root supplies (authentication, metrics). */
export interface GrpcAdapterHooks {
  /** Builds the call's context values from its headers; throws a ConnectError to refuse. */
  contextValues(headers: Headers, method: DescMethod): ContextValues | Promise<ContextValues>;
  /** Told once the call's context exists, before the handler runs (may set response headers). */
  onCallStart?(ctx: HandlerContext): void;
  /**
   * Told when a call ends, with its status code, duration in milliseconds and the context
   * values contextValues built (undefined if it refused the call).
   */
  onCallEnd?(method: DescMethod, code: Code, ms: number, values: ContextValues | undefined): void;
  /** Told when a server or client stream opens (+1) and closes (-1). */
  onStream?(method: DescMethod, delta: 1 | -1): void;
  /** Aborted when the server drains; forwarded to each handler context. */
  shutdownSignal?: AbortSignal;
}

/** Code of a call that ended well (connect's Code has no OK member). */
const OK = 0 as Code;

/**
 * Reason of the AbortController of a call the client cancelled: one preallocated error, because
 * `abort()` without a reason builds a DOMException (and captures a stack) for every call.
 */
const CLIENT_CANCELLED = new ConnectError("the client cancelled the call", Code.Canceled);
/** Reason a finished unary call's signal (if anyone made one) carries. */
const CALL_FINISHED = new ConnectError("the call finished", Code.Canceled);
/** Reason a held stream's signal carries when the server drains. */
const SHUTTING_DOWN = new ConnectError("the server is shutting down", Code.Unavailable);
/** Reason a call's signal carries when its deadline passes. */
const DEADLINE_EXCEEDED = new ConnectError("the deadline passed", Code.DeadlineExceeded);

/**
 * The abort side of a call, its signal made only when someone asks for it: profiles showed
 * connect's createHandlerContext (five linked AbortControllers per call) as the largest cost
 * of a short call and of a held stream's memory; unary handlers here never read the signal.
 */
class LazyAbort {
  private controller: AbortController | undefined;
  private timer: NodeJS.Timeout | undefined;
  private reason: unknown;
  constructor(private deadlineMs?: number) {}

  /** Sets the deadline (milliseconds from now) the signal should honour once it exists. */
  setDeadline(ms: number | undefined): void {
    this.deadlineMs = ms;
  }

  get signal(): AbortSignal {
    if (!this.controller) {
      this.controller = new AbortController();
      if (this.reason !== undefined) this.controller.abort(this.reason);
      else if (this.deadlineMs !== undefined) {
        this.timer = setTimeout(() => this.abort(DEADLINE_EXCEEDED), this.deadlineMs);
        this.timer.unref();
      }
    }
    return this.controller.signal;
  }

  abort(reason: unknown = CLIENT_CANCELLED): void {
    if (this.reason !== undefined) return;
    this.reason = reason;
    clearTimeout(this.timer);
    this.controller?.abort(reason);
  }

  /** The call ended: a signal someone holds reports it, and the deadline timer goes. */
  release(): void {
    this.abort(CALL_FINISHED);
  }
}

/**
 * A HandlerContext over a LazyAbort: what connect's createHandlerContext builds, minus its
 * chain of linked signals (held streams pay for them in memory, short calls in time).
 */
function callContext(init: {
  service: DescService;
  method: DescMethod;
  url: string;
  headers: Headers;
  values: ContextValues;
  timeoutMs: number | undefined;
  requestSignal: LazyAbort;
}): HandlerContext {
  const started = Date.now();
  init.requestSignal.setDeadline(init.timeoutMs);
  let responseHeader: Headers | undefined;
  let responseTrailer: Headers | undefined;
  return {
    method: init.method,
    service: init.service,
    get signal() {
      return init.requestSignal.signal;
    },
    timeoutMs: () => (init.timeoutMs === undefined ? undefined : init.timeoutMs - (Date.now() - started)),
    requestMethod: "POST",
    requestHeader: init.headers,
    get responseHeader() {
      return (responseHeader ??= new Headers());
    },
    get responseTrailer() {
      return (responseTrailer ??= new Headers());
    },
    protocolName: "grpc",
    values: init.values,
    url: init.url,
  };
}

/**
 * What every kind of grpc-js server call offers (grpc-js names it ServerSurfaceCall but does
 * not export it): metadata, deadline, response headers, the "cancelled" event.
 */
interface SurfaceCall {
  readonly metadata: grpc.Metadata;
  getDeadline(): grpc.Deadline;
  sendMetadata(metadata: grpc.Metadata): void;
  on(event: "cancelled", listener: () => void): unknown;
}

/** The three kinds of call served (bidirectional streaming is not). */
type CallKind = "unary" | "client_streaming" | "server_streaming";

/** How a call's answer goes out: a callback for unary and client-streaming calls, the stream's end otherwise. */
interface Answer {
  ok(response: unknown, trailer: grpc.Metadata | undefined): void;
  fail(status: Partial<grpc.StatusObject> & { code: grpc.status }): void;
}

/** What one call carries from admission to its end, for the kinds' own parts. */
interface CallLife {
  readonly abort: LazyAbort;
  /** The service's way to end a server stream at once (streamAbortKey); server streams only. */
  readonly ended: StreamEnd | undefined;
  /** True once the client cancelled (or grpc-js answered a passed deadline itself). */
  cancelled(): boolean;
  /** Sends the handler's response headers once, before the first message or the status. */
  sendHeaders(): void;
}

const replyBy = (callback: grpc.sendUnaryData<unknown>): Answer => ({
  ok: (response, trailer) => callback(null, response, trailer),
  fail: (status) => callback(status),
});

/**
 * Writes a server-streaming handler's responses to the call, respecting the socket, and
 * returns the handler's iterator however the call ends early (see StreamPump).
 */
function pump(call: grpc.ServerWritableStream<unknown, unknown>, output: AsyncIterable<unknown>, life: CallLife): Promise<void> {
  return new StreamPump(call, output, life).run();
}

/**
 * The held streams that end when the server drains, behind one listener on the shutdown
 * signal: an AbortSignal keeps its listeners in a list that every add and remove walks, so a
 * listener per held stream made opening and closing each of 10,000 streams walk 10,000
 * (profiled: a sixth of the service's CPU while the bench opened its 10,000 watchers).
 */
const heldBySignal = new WeakMap<AbortSignal, Set<LazyAbort>>();
function heldStreams(shutdown: AbortSignal): Set<LazyAbort> {
  let held = heldBySignal.get(shutdown);
  if (!held) {
    const calls = new Set<LazyAbort>();
    heldBySignal.set(shutdown, (held = calls));
    shutdown.addEventListener(
      "abort",
      () => {
        for (const call of calls) call.abort(SHUTTING_DOWN);
        calls.clear();
      },
      { once: true },
    );
  }
  return held;
}

/**
 * Builds a grpc-js service definition and handlers for any generated service descriptor and
 * its ServiceImpl: the same implementation connect-node serves, with the same
 * HandlerContext (signal, headers, context values). No business logic lives here.
 */
export function grpcService<S extends DescService>(
  service: S,
  impl: ServiceImpl<S>,
  hooks: GrpcAdapterHooks,
): { definition: grpc.ServiceDefinition; handlers: grpc.UntypedServiceImplementation } {
  const definition: Record<string, grpc.MethodDefinition<unknown, unknown>> = {};
  const handlers: grpc.UntypedServiceImplementation = {};
  for (const method of service.methods) {
    if (method.methodKind === "bidi_streaming") throw new Error(`${method.name}: bidirectional streaming is not served`);
    const fn = (impl as unknown as Record<string, (...args: unknown[]) => unknown>)[method.localName]!;
    definition[method.name] = {
      path: `/${service.typeName}/${method.name}`,
      requestStream: method.methodKind === "client_streaming",
      responseStream: method.methodKind === "server_streaming",
      requestSerialize: serializer(method.input),
      requestDeserialize: deserializer(method.input),
      responseSerialize: serializer(method.output),
      responseDeserialize: deserializer(method.output),
      originalName: method.localName,
    };
    const run = callRunner(service, method, method.methodKind, hooks);
    switch (method.methodKind) {
      case "unary":
        handlers[method.name] = ((call: grpc.ServerUnaryCall<unknown, unknown>, callback: grpc.sendUnaryData<unknown>) =>
          run(call, (ctx) => fn(decoded(call.request), ctx), replyBy(callback))) as grpc.handleUnaryCall<unknown, unknown>;
        break;
      case "client_streaming":
        handlers[method.name] = ((call: grpc.ServerReadableStream<unknown, unknown>, callback: grpc.sendUnaryData<unknown>) =>
          run(call, (ctx) => fn(requests(call), ctx), replyBy(callback))) as grpc.handleClientStreamingCall<unknown, unknown>;
        break;
      case "server_streaming":
        handlers[method.name] = ((call: grpc.ServerWritableStream<unknown, unknown>) =>
          run(call, (ctx, life) => pump(call, fn(decoded(call.request), ctx) as AsyncIterable<unknown>, life), {
            ok: (_, trailer) => call.end(trailer),
            fail: (status) => call.emit("error", status),
          })) as grpc.handleServerStreamingCall<unknown, unknown>;
        break;
    }
  }
  return { definition: definition as grpc.ServiceDefinition, handlers };
}

async function* requests(call: grpc.ServerReadableStream<unknown, unknown>): AsyncGenerator<unknown> {
  for await (const m of call) yield decoded(m);
}

/**
 * The one call lifecycle, for every kind of call: admission (context values) before the
 * request is looked at, the HandlerContext with its deadline, cancellation, the server's
 * drain for held streams, the status with its details, response headers and trailers,
 * onStream and onCallEnd. The kinds plug in only how the handler runs and how it answers.
 */
function callRunner(service: DescService, method: DescMethod, kind: CallKind, hooks: GrpcAdapterHooks) {
  const url = `/${service.typeName}/${method.name}`;
  const stream = kind !== "unary";
  return (call: SurfaceCall, invoke: (ctx: HandlerContext, life: CallLife) => unknown, answer: Answer): void => {
    const t0 = performance.now();
    const abort = new LazyAbort();
    const ended = kind === "server_streaming" ? new StreamEnd() : undefined;
    let values: ContextValues | undefined;
    let ctx: HandlerContext | undefined;
    let headersSent = false;
    let unlink: (() => void) | undefined;
    let finished = false;
    let cancelled = false;
    const life: CallLife = {
      abort,
      ended,
      cancelled: () => cancelled,
      sendHeaders() {
        if (headersSent || !ctx) return;
        headersSent = true;
        let any = false;
        ctx.responseHeader.forEach(() => (any = true));
        if (any) call.sendMetadata(toMetadata(ctx.responseHeader));
      },
    };
    // grpc-js emits "cancelled" after every call it answered (notifyOnCancel follows
    // sendStatus): only one before the answer is a cancel (or a deadline it answered itself).
    call.on("cancelled", () => {
      if (finished) return;
      cancelled = true;
      abort.abort(CLIENT_CANCELLED);
    });
    if (stream) hooks.onStream?.(method, 1);
    // Stops the handler's signal (so its subscriptions go) before the answer, then counts the call.
    const finish = (code: Code) => {
      finished = true;
      abort.release();
      unlink?.();
      if (stream) hooks.onStream?.(method, -1);
      hooks.onCallEnd?.(method, code, performance.now() - t0, values);
    };
    (async () => {
      // Admission first: an unauthenticated caller learns nothing about its request's shape.
      const deadline = call.getDeadline();
      const ms = deadline instanceof Date ? deadline.getTime() - Date.now() : deadline - Date.now();
      const headers = metadataToHeaders(call.metadata);
      values = await hooks.contextValues(headers, method);
      if (ended) values.set(streamAbortKey, ended);
      const timeoutMs = Number.isFinite(ms) ? Math.max(ms, 0) : undefined;
      ctx = callContext({ service, method, url, headers, values, timeoutMs, requestSignal: abort });
      if (stream && hooks.shutdownSignal) {
        // Held streams end when the server drains; unary calls finish by themselves.
        const shutdown = hooks.shutdownSignal;
        if (shutdown.aborted) abort.abort(SHUTTING_DOWN);
        else {
          const held = heldStreams(shutdown);
          held.add(abort);
          unlink = () => held.delete(abort);
        }
      }
      hooks.onCallStart?.(ctx);
      return invoke(ctx, life);
    })().then(
      (response) => {
        finish(cancelled ? Code.Canceled : OK);
        if (cancelled) return;
        life.sendHeaders();
        answer.ok(response, ctx ? toMetadata(ctx.responseTrailer) : undefined);
      },
      (err) => {
        const status = toStatus(err, ctx);
        finish(status.code as number as Code);
        if (cancelled) return;
        life.sendHeaders();
        answer.fail(status);
      },
    );
  };
}
