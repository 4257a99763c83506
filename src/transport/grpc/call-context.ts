// The HandlerContext the grpc-js adapter gives each call, built for a short call's cost: its
// signal, request Headers and response Headers/trailers are made only when someone asks.
import type { DescMethod, DescService } from "@bufbuild/protobuf";
import { Code, ConnectError, type ContextValues, type HandlerContext } from "@connectrpc/connect";
import * as grpc from "@grpc/grpc-js";
import type { AbortListener, CallSignal } from "../../domain/ports.js";
import { metadataToHeaders, toMetadata } from "./codec.js";

/**
 * Reason of the AbortController of a call the client cancelled: one preallocated error, because
 * `abort()` without a reason builds a DOMException (and captures a stack) for every call.
 */
export const CLIENT_CANCELLED = new ConnectError("the client cancelled the call", Code.Canceled);
/** Reason a finished unary call's signal (if anyone made one) carries. */
const CALL_FINISHED = new ConnectError("the call finished", Code.Canceled);
/** Reason a call's signal carries when its deadline passes. */
const DEADLINE_EXCEEDED = new ConnectError("the deadline passed", Code.DeadlineExceeded);

/**
 * The abort side of a call, its AbortSignal made only when someone asks for it: profiles
 * showed connect's createHandlerContext (five linked AbortControllers per call) as the
 * largest cost of a short call and of a held stream's memory; unary handlers here never read
 * the signal. It is itself a CallSignal (flag, reason, object listeners), which the service's
 * held streams use instead (see StreamEnd.signal): an AbortSignal is most of a kilobyte.
 */
export class LazyAbort implements CallSignal {
  private controller: AbortController | undefined;
  private timer: NodeJS.Timeout | undefined;
  private abortedWith: unknown;
  private deadlineMs: number | undefined;
  /** The CallSignal listeners (one object, or a few in an array): told once, at the abort. */
  private listeners: AbortListener | AbortListener[] | null = null;

  /** Sets the deadline (milliseconds from now) the signal should honour once it exists. */
  setDeadline(ms: number | undefined): void {
    this.deadlineMs = ms;
  }

  get signal(): AbortSignal {
    if (!this.controller) {
      this.controller = new AbortController();
      if (this.abortedWith !== undefined) this.controller.abort(this.abortedWith);
      else this.armDeadline();
    }
    return this.controller.signal;
  }

  get aborted(): boolean {
    return this.abortedWith !== undefined;
  }

  get reason(): unknown {
    return this.abortedWith;
  }

  addEventListener(_type: "abort", listener: AbortListener): void {
    // Like an aborted AbortSignal, an ended call tells nobody who comes later.
    if (this.abortedWith !== undefined) return;
    const l = this.listeners;
    if (l === null) this.listeners = listener;
    else if (Array.isArray(l)) {
      if (!l.includes(listener)) l.push(listener);
    } else if (l !== listener) this.listeners = [l, listener];
    this.armDeadline();
  }

  removeEventListener(_type: "abort", listener: AbortListener): void {
    const l = this.listeners;
    if (l === listener) this.listeners = null;
    else if (Array.isArray(l)) {
      const i = l.indexOf(listener);
      if (i >= 0) l.splice(i, 1);
    }
  }

  abort(reason: unknown = CLIENT_CANCELLED): void {
    if (this.abortedWith !== undefined) return;
    this.abortedWith = reason;
    if (this.timer) clearTimeout(this.timer);
    this.controller?.abort(reason);
    const l = this.listeners;
    this.listeners = null;
    if (l === null) return;
    if (!Array.isArray(l)) return tell(l);
    for (const listener of l) tell(listener);
  }

  /** The deadline's timer, once something listens (grpc-js also ends the call at its deadline). */
  private armDeadline(): void {
    if (this.timer || this.deadlineMs === undefined || this.abortedWith !== undefined) return;
    this.timer = setTimeout(() => this.abort(DEADLINE_EXCEEDED), this.deadlineMs);
    this.timer.unref();
  }

  /** The call ended: a signal someone holds reports it, and the deadline timer goes. */
  release(): void {
    this.abort(CALL_FINISHED);
  }
}

/** One listener told of an abort; one that throws does not keep the others from hearing it (as in an EventTarget). */
function tell(listener: AbortListener): void {
  try {
    listener.handleEvent();
  } catch (err) {
    queueMicrotask(() => {
      throw err;
    });
  }
}

/** Characters fetch's Headers refuses in a value (it drops the field, see metadataToHeaders). */
const REFUSED_VALUE = /[\0\r\n\u0100-\uffff]/;
/** The HTTP whitespace fetch's Headers strips from either end of a value. */
const EDGE_WHITESPACE = /^[\t\n\r ]+|[\t\n\r ]+$/g;

/**
 * A request's headers as `get` reads them, straight from its grpc-js Metadata: what
 * `metadataToHeaders(md).get(name)` answers (the first value; fetch's whitespace trim; a value
 * Headers would refuse is absent), without building a Headers for every call.
 */
export class MetadataHeaderReader {
  constructor(private readonly md: grpc.Metadata) {}

  get(name: string): string | null {
    const value = this.md.get(name.toLowerCase())[0];
    if (typeof value !== "string") return null;
    const v = value.replace(EDGE_WHITESPACE, "");
    return REFUSED_VALUE.test(v) ? null : v;
  }
}

/**
 * A HandlerContext over a LazyAbort: what connect's createHandlerContext builds, minus its
 * chain of linked signals (held streams pay for them in memory, short calls in time), with
 * its Headers made on first use (a class, so that a call allocates one object, not a closure
 * per accessor).
 */
export class GrpcCallContext implements HandlerContext {
  readonly requestMethod = "POST";
  readonly protocolName = "grpc";
  private readonly started = Date.now();
  private request: Headers | undefined;
  private header: Headers | undefined;
  private trailer: Headers | undefined;

  constructor(
    readonly service: DescService,
    readonly method: DescMethod,
    readonly url: string,
    private readonly metadata: grpc.Metadata,
    readonly values: ContextValues,
    private readonly deadlineMs: number | undefined,
    private readonly abort: LazyAbort,
  ) {
    abort.setDeadline(deadlineMs);
  }

  get signal(): AbortSignal {
    return this.abort.signal;
  }

  timeoutMs(): number | undefined {
    return this.deadlineMs === undefined ? undefined : this.deadlineMs - (Date.now() - this.started);
  }

  get requestHeader(): Headers {
    return (this.request ??= metadataToHeaders(this.metadata));
  }

  get responseHeader(): Headers {
    return (this.header ??= new Headers());
  }

  get responseTrailer(): Headers {
    return (this.trailer ??= new Headers());
  }

  /** The response headers the handler set, added to `into`; false when it set none. */
  addResponseHeaders(into: grpc.Metadata): boolean {
    let any = false;
    this.header?.forEach((v, k) => {
      any = true;
      into.set(k, v);
    });
    return any;
  }

  /** The trailers the handler set (into `into` when given), or undefined when none and no `into`. */
  trailerMetadata(into?: grpc.Metadata): grpc.Metadata | undefined {
    if (!this.trailer) return into;
    return toMetadata(this.trailer, into ?? new grpc.Metadata());
  }
}
