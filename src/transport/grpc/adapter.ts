import { once } from "node:events";
import { create, fromBinary, isMessage, toBinary } from "@bufbuild/protobuf";
import type { DescMessage, DescMethod, DescService } from "@bufbuild/protobuf";
import {
  Code,
  ConnectError,
  type ContextValues,
  type HandlerContext,
  type ServiceImpl,
} from "@connectrpc/connect";
import * as grpc from "@grpc/grpc-js";
import { streamAbortKey } from "../../service/stream-control.js";
import type { ServerSurfaceCall } from "@grpc/grpc-js/build/src/server-call.js";
import { statusDetailsBin } from "../../service/errors.js";
import { boundedError } from "../status.js";

/** The trailer that carries google.rpc.Status (with ErrorInfo and other details) on gRPC. */
const STATUS_DETAILS_KEY = "grpc-status-details-bin";

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

/** A request the adapter could not decode; surfaces as INVALID_ARGUMENT, not INTERNAL. */
class Undecodable {
  constructor(readonly reason: string) {}
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

const encoded = new WeakMap<object, Buffer>();

/**
 * Serialises a response once, however many streams it is written to (fan-out sends the same
 * WatchTasksResponse object to every watcher).
 */
function serializer(schema: DescMessage) {
  return (value: unknown): Buffer => {
    const msg = isMessage(value, schema) ? value : create(schema, value as never);
    let bytes = encoded.get(msg);
    if (!bytes) {
      const b = toBinary(schema, msg);
      bytes = Buffer.from(b.buffer, b.byteOffset, b.byteLength);
      encoded.set(msg, bytes);
    }
    return bytes;
  };
}

function deserializer(schema: DescMessage) {
  return (buf: Buffer): unknown => {
    try {
      return fromBinary(schema, buf);
    } catch (err) {
      return new Undecodable(`malformed ${schema.typeName}: ${(err as Error).message}`);
    }
  };
}

function metadataToHeaders(md: grpc.Metadata): Headers {
  const headers = new Headers();
  for (const [key, value] of Object.entries(md.getMap())) {
    if (typeof value !== "string") continue;
    try {
      headers.append(key, value);
    } catch {
      // A value fetch's Headers refuses (control characters) is dropped, not an INTERNAL.
    }
  }
  return headers;
}

function toMetadata(headers: Headers, into = new grpc.Metadata()): grpc.Metadata {
  headers.forEach((v, k) => into.set(k, v));
  return into;
}

function toStatus(err: unknown, ctx: HandlerContext | undefined): Partial<grpc.StatusObject> & { code: grpc.status } {
  const ce = boundedError(err);
  const metadata = ctx ? toMetadata(ctx.responseTrailer) : new grpc.Metadata();
  toMetadata(ce.metadata, metadata);
  metadata.set(STATUS_DETAILS_KEY, Buffer.from(statusDetailsBin(ce)));
  return { code: ce.code as number as grpc.status, details: ce.rawMessage, metadata };
}

/** Sends the handler's response headers once, before the first message or the status. */
function sendHeaders(call: ServerSurfaceCall, ctx: HandlerContext | undefined, sent: { done: boolean }): void {
  if (sent.done || !ctx) return;
  sent.done = true;
  let any = false;
  ctx.responseHeader.forEach(() => (any = true));
  if (any) call.sendMetadata(toMetadata(ctx.responseHeader));
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
    const fn = (impl as unknown as Record<string, (...args: unknown[]) => unknown>)[method.localName]!;
    const clientStreams = method.methodKind === "client_streaming" || method.methodKind === "bidi_streaming";
    const serverStreams = method.methodKind === "server_streaming" || method.methodKind === "bidi_streaming";
    definition[method.name] = {
      path: `/${service.typeName}/${method.name}`,
      requestStream: clientStreams,
      responseStream: serverStreams,
      requestSerialize: serializer(method.input),
      requestDeserialize: deserializer(method.input),
      responseSerialize: serializer(method.output),
      responseDeserialize: deserializer(method.output),
      originalName: method.localName,
    };

    /** What one call carries from admission to its end (values for onCallEnd, ctx for headers). */
    interface CallState {
      values?: ContextValues;
      ctx?: HandlerContext;
      headersSent: { done: boolean };
      /** Removes the stream's listener on the server's shutdown signal. */
      unlink?: () => void;
    }

    async function context(
      call: ServerSurfaceCall,
      abort: LazyAbort,
      state: CallState,
      streamAbort?: AbortController,
      unary = false,
    ): Promise<HandlerContext> {
      const deadline = call.getDeadline();
      const ms = deadline instanceof Date ? deadline.getTime() - Date.now() : deadline - Date.now();
      const headers = metadataToHeaders(call.metadata);
      const values = await hooks.contextValues(headers, method);
      state.values = values;
      if (streamAbort) values.set(streamAbortKey, streamAbort);
      const timeoutMs = Number.isFinite(ms) ? Math.max(ms, 0) : undefined;
      const url = `/${service.typeName}/${method.name}`;
      const ctx = callContext({ service, method, url, headers, values, timeoutMs, requestSignal: abort });
      if (!unary && hooks.shutdownSignal) {
        // Held streams end when the server drains; unary calls finish by themselves.
        const shutdown = hooks.shutdownSignal;
        const onShutdown = () => abort.abort(SHUTTING_DOWN);
        if (shutdown.aborted) onShutdown();
        else {
          shutdown.addEventListener("abort", onShutdown, { once: true });
          state.unlink = () => shutdown.removeEventListener("abort", onShutdown);
        }
      }
      state.ctx = ctx;
      hooks.onCallStart?.(ctx);
      return ctx;
    }

    const newState = (): CallState => ({ headersSent: { done: false } });

    const started = (): (() => number) => {
      const t0 = performance.now();
      return () => performance.now() - t0;
    };

    function decoded(request: unknown): unknown {
      if (request instanceof Undecodable) throw new ConnectError(request.reason, Code.InvalidArgument);
      return request;
    }

    if (!clientStreams && !serverStreams) {
      handlers[method.name] = ((call: grpc.ServerUnaryCall<unknown, unknown>, callback: grpc.sendUnaryData<unknown>) => {
        const elapsed = started();
        const abort = new LazyAbort();
        const state = newState();
        let finished = false;
        // grpc-js emits "cancelled" after every call it answered (notifyOnCancel follows
        // sendStatus): only one before the answer is a cancel.
        call.on("cancelled", () => {
          if (!finished) abort.abort(CLIENT_CANCELLED);
        });
        // Admission first: an unauthenticated caller learns nothing about its request's shape.
        (async () => {
          const ctx = await context(call, abort, state, undefined, true);
          return fn(decoded(call.request), ctx);
        })().then(
          (res) => {
            finished = true;
            abort.release();
            hooks.onCallEnd?.(method, OK, elapsed(), state.values);
            sendHeaders(call, state.ctx, state.headersSent);
            callback(null, res, state.ctx ? toMetadata(state.ctx.responseTrailer) : undefined);
          },
          (err) => {
            finished = true;
            abort.release();
            const status = toStatus(err, state.ctx);
            hooks.onCallEnd?.(method, status.code as number as Code, elapsed(), state.values);
            sendHeaders(call, state.ctx, state.headersSent);
            callback(status);
          },
        );
      }) as grpc.handleUnaryCall<unknown, unknown>;
    } else if (serverStreams && !clientStreams) {
      handlers[method.name] = ((call: grpc.ServerWritableStream<unknown, unknown>) => {
        const elapsed = started();
        const abort = new LazyAbort();
        const state = newState();
        const ended = new AbortController();
        let cancelled = false;
        call.on("cancelled", () => {
          cancelled = true;
          abort.abort(CLIENT_CANCELLED);
        });
        hooks.onStream?.(method, 1);
        (async () => {
          const ctx = await context(call, abort, state, ended);
          const responses = (fn(decoded(call.request), ctx) as AsyncIterable<unknown>)[Symbol.asyncIterator]();
          // One listener each for the call's life (a listener per drain would pile up).
          const endedNow = once(ended.signal, "abort").then(() => null);
          const cancelledNow = once(abort.signal, "abort");
          for (;;) {
            const next = await Promise.race([responses.next(), endedNow]);
            if (next === null) throw ended.signal.reason;
            if (next.done || cancelled) return;
            sendHeaders(call, ctx, state.headersSent);
            // Respect the socket: a slow reader parks here; the service can still end the call.
            if (!call.write(next.value)) {
              await Promise.race([once(call, "drain"), cancelledNow, endedNow]);
              if (ended.signal.aborted) throw ended.signal.reason;
            }
          }
        })().then(
          () => {
            hooks.onStream?.(method, -1);
            hooks.onCallEnd?.(method, cancelled ? Code.Canceled : OK, elapsed(), state.values);
            if (!cancelled) {
              sendHeaders(call, state.ctx, state.headersSent);
              call.end(state.ctx ? toMetadata(state.ctx.responseTrailer) : undefined);
            }
            abort.release();
            state.unlink?.();
          },
          (err) => {
            // Stop the generator (its signal) before answering, so its subscription is freed.
            abort.release();
            state.unlink?.();
            hooks.onStream?.(method, -1);
            const status = toStatus(err, state.ctx);
            hooks.onCallEnd?.(method, status.code as number as Code, elapsed(), state.values);
            if (!cancelled) {
              sendHeaders(call, state.ctx, state.headersSent);
              call.emit("error", status);
            }
          },
        );
      }) as grpc.handleServerStreamingCall<unknown, unknown>;
    } else if (clientStreams && !serverStreams) {
      handlers[method.name] = ((call: grpc.ServerReadableStream<unknown, unknown>, callback: grpc.sendUnaryData<unknown>) => {
        const elapsed = started();
        const abort = new LazyAbort();
        const state = newState();
        let finished = false;
        call.on("cancelled", () => {
          if (!finished) abort.abort(CLIENT_CANCELLED);
        });
        hooks.onStream?.(method, 1);
        async function* requests(): AsyncGenerator<unknown> {
          for await (const m of call) yield decoded(m);
        }
        const done = () => {
          finished = true;
          abort.release();
          state.unlink?.();
        };
        (async () => fn(requests(), await context(call, abort, state)))().then(
          (res) => {
            done();
            hooks.onStream?.(method, -1);
            hooks.onCallEnd?.(method, OK, elapsed(), state.values);
            sendHeaders(call, state.ctx, state.headersSent);
            callback(null, res, state.ctx ? toMetadata(state.ctx.responseTrailer) : undefined);
          },
          (err) => {
            done();
            hooks.onStream?.(method, -1);
            const status = toStatus(err, state.ctx);
            hooks.onCallEnd?.(method, status.code as number as Code, elapsed(), state.values);
            sendHeaders(call, state.ctx, state.headersSent);
            callback(status);
          },
        );
      }) as grpc.handleClientStreamingCall<unknown, unknown>;
    } else {
      throw new Error(`${method.name}: bidirectional streaming is not served`);
    }
  }
  return { definition: definition as grpc.ServiceDefinition, handlers };
}
