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
import { CLIENT_CANCELLED, GrpcCallContext, LazyAbort, MetadataHeaderReader } from "./call-context.js";
import { decoded, deserializer, heldDeserializer, serializer, toStatus } from "./codec.js";
import { type PumpLife, StreamPump } from "./stream-pump.js";

/** Per-call hooks the composition root supplies (authentication, metrics). */
export interface GrpcAdapterHooks {
  /** Builds the call's context values from its headers; throws a ConnectError to refuse. */
  contextValues(headers: Pick<Headers, "get">, method: DescMethod): ContextValues | Promise<ContextValues>;
  /**
   * Told once the call's context exists, before the handler runs; may return response headers
   * to send (the handler's own ctx.responseHeader entries follow them and win on a clash).
   */
  onCallStart?(ctx: HandlerContext): Readonly<Record<string, string>> | void;
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

/** Reason a held stream's signal carries when the server drains. */
const SHUTTING_DOWN = new ConnectError("the server is shutting down", Code.Unavailable);

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

/** What one call carries from admission to its end, for the kinds' own parts. */
interface CallLife extends PumpLife {
  readonly abort: LazyAbort;
}

/** What run() answers for a server stream: its pump tells the end (CallLife.streamDone). */
const PUMPING = Symbol("pumping");

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
      requestSerialize: serializer(method.input, "frozen"),
      // A server stream may be held for hours: its request goes to the handler and no further.
      requestDeserialize: method.methodKind === "server_streaming" ? heldDeserializer(method.input) : deserializer(method.input),
      responseSerialize: serializer(method.output, method.methodKind === "server_streaming" ? "all" : "frozen"),
      responseDeserialize: deserializer(method.output),
      originalName: method.localName,
    };
    const shape: CallShape = { service, method, url: `/${service.typeName}/${method.name}`, fn, hooks };
    switch (method.methodKind) {
      case "unary":
      case "client_streaming":
        handlers[method.name] = ((call: grpc.ServerUnaryCall<unknown, unknown>, callback: grpc.sendUnaryData<unknown>) =>
          new CallRun(shape, call, callback).start()) as grpc.handleUnaryCall<unknown, unknown>;
        break;
      case "server_streaming":
        handlers[method.name] = ((call: grpc.ServerWritableStream<unknown, unknown>) =>
          new CallRun(shape, call, undefined).start()) as grpc.handleServerStreamingCall<unknown, unknown>;
        break;
    }
  }
  return { definition: definition as grpc.ServiceDefinition, handlers };
}

async function* requests(call: grpc.ServerReadableStream<unknown, unknown>): AsyncGenerator<unknown> {
  for await (const m of call) yield decoded(m);
}

/** What every call of one method shares. */
interface CallShape {
  readonly service: DescService;
  readonly method: DescMethod;
  readonly url: string;
  readonly fn: (...args: unknown[]) => unknown;
  readonly hooks: GrpcAdapterHooks;
}

type AnyCall = SurfaceCall & Partial<grpc.ServerUnaryCall<unknown, unknown>>;

const isThenable = (v: unknown): v is PromiseLike<unknown> => typeof (v as PromiseLike<unknown> | null)?.then === "function";

/**
 * The one call lifecycle, for every kind of call: admission (context values) before the
 * request is looked at, the HandlerContext with its deadline, cancellation, the server's
 * drain for held streams, the status with its details, response headers and trailers,
 * onStream and onCallEnd. The kinds differ only in how the handler runs (its request, or the
 * request stream, or the pump of its responses) and how it answers (the unary callback, or
 * the stream's end). One object per call, its steps methods (profiles showed the closures of
 * a per-call lifecycle, and the garbage they make, as a large part of a short call).
 */
class CallRun implements CallLife {
  private readonly t0 = performance.now();
  readonly abort = new LazyAbort();
  readonly ended: StreamEnd | undefined;
  private readonly stream: boolean;
  private values: ContextValues | undefined;
  private ctx: GrpcCallContext | undefined;
  private extraHeaders: Readonly<Record<string, string>> | void = undefined;
  private headersSent = false;
  /** The server's held streams, while this one is among them. */
  private held: Set<LazyAbort> | undefined;
  private pump: StreamPump | undefined;
  private finished = false;
  private wasCancelled = false;

  constructor(
    private readonly shape: CallShape,
    private readonly call: AnyCall,
    /** The answer of a unary or client-streaming call; a server stream answers by its end. */
    private readonly callback: grpc.sendUnaryData<unknown> | undefined,
  ) {
    const kind = shape.method.methodKind;
    this.stream = kind !== "unary";
    this.ended = kind === "server_streaming" ? new StreamEnd(this.abort) : undefined;
  }

  cancelled(): boolean {
    return this.wasCancelled;
  }

  start(): void {
    const { call, shape } = this;
    // grpc-js emits "cancelled" after every call it answered (notifyOnCancel follows
    // sendStatus): only one before the answer is a cancel (or a deadline it answered itself).
    call.on("cancelled", () => {
      if (this.finished) return;
      this.wasCancelled = true;
      this.abort.abort(CLIENT_CANCELLED);
      // Also when the signal had aborted before (a drain): the pump ends now, nobody to answer.
      this.pump?.handleEvent();
    });
    if (this.stream) shape.hooks.onStream?.(shape.method, 1);
    let result: unknown;
    try {
      // Admission first: an unauthenticated caller learns nothing about its request's shape.
      const values = shape.hooks.contextValues(new MetadataHeaderReader(call.metadata), shape.method);
      result = isThenable(values) ? Promise.resolve(values).then((v) => this.run(v)) : this.run(values);
    } catch (err) {
      this.failed(err);
      return;
    }
    if (isThenable(result)) {
      result.then(
        (response) => this.succeeded(response),
        (err: unknown) => this.failed(err),
      );
    } else this.succeeded(result);
  }

  /** The admitted call: its context, then the handler. */
  private run(values: ContextValues): unknown {
    const { call, shape } = this;
    this.values = values;
    if (this.ended) values.set(streamAbortKey, this.ended);
    const deadline = call.getDeadline();
    const ms = deadline instanceof Date ? deadline.getTime() - Date.now() : deadline - Date.now();
    const timeoutMs = Number.isFinite(ms) ? Math.max(ms, 0) : undefined;
    const ctx = new GrpcCallContext(shape.service, shape.method, shape.url, call.metadata, values, timeoutMs, this.abort);
    this.ctx = ctx;
    const shutdown = shape.hooks.shutdownSignal;
    if (this.stream && shutdown) {
      // Held streams end when the server drains; unary calls finish by themselves.
      if (shutdown.aborted) this.abort.abort(SHUTTING_DOWN);
      else (this.held = heldStreams(shutdown)).add(this.abort);
    }
    this.extraHeaders = shape.hooks.onCallStart?.(ctx);
    switch (shape.method.methodKind) {
      case "unary":
        return shape.fn(decoded(call.request), ctx);
      case "client_streaming":
        return shape.fn(requests(call as unknown as grpc.ServerReadableStream<unknown, unknown>), ctx);
      default: {
        // The responses go to the call, respecting the socket; the handler's iterator is
        // returned however the call ends early (see StreamPump).
        const output = shape.fn(decoded(call.request), ctx) as AsyncIterable<unknown>;
        this.pump = new StreamPump(call as unknown as grpc.ServerWritableStream<unknown, unknown>, output, this);
        this.pump.start();
        return PUMPING;
      }
    }
  }

  streamDone(err: unknown): void {
    if (err === undefined) this.succeeded(undefined);
    else this.failed(err);
  }

  sendHeaders(): void {
    const ctx = this.ctx;
    if (this.headersSent || !ctx) return;
    this.headersSent = true;
    const md = new grpc.Metadata();
    let any = false;
    const extra = this.extraHeaders;
    this.extraHeaders = undefined;
    if (extra) {
      for (const k in extra) {
        md.set(k, extra[k]!);
        any = true;
      }
    }
    if (ctx.addResponseHeaders(md)) any = true;
    if (any) this.call.sendMetadata(md);
  }

  /** Stops the handler's signal (so its subscriptions go) before the answer, then counts the call. */
  private finish(code: Code): void {
    const { shape } = this;
    this.finished = true;
    this.abort.release();
    this.held?.delete(this.abort);
    if (this.stream) shape.hooks.onStream?.(shape.method, -1);
    shape.hooks.onCallEnd?.(shape.method, code, performance.now() - this.t0, this.values);
  }

  private succeeded(response: unknown): void {
    if (response === PUMPING) return;
    this.finish(this.wasCancelled ? Code.Canceled : OK);
    if (this.wasCancelled) return;
    this.sendHeaders();
    const trailer = this.ctx?.trailerMetadata();
    if (this.callback) this.callback(null, response, trailer);
    else (this.call as unknown as grpc.ServerWritableStream<unknown, unknown>).end(trailer);
  }

  private failed(err: unknown): void {
    const status = toStatus(err, this.ctx?.trailerMetadata(new grpc.Metadata()));
    this.finish(status.code as number as Code);
    if (this.wasCancelled) return;
    this.sendHeaders();
    if (this.callback) this.callback(status);
    else (this.call as unknown as grpc.ServerWritableStream<unknown, unknown>).emit("error", status);
  }
}
