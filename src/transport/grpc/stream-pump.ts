import type * as grpc from "@grpc/grpc-js";
import type { CallSignal } from "../../domain/ports.js";
import type { StreamEnd } from "../../service/stream-control.js";

/** What the pump needs of the call's lifecycle (the adapter's CallLife). */
export interface PumpLife {
  /**
   * The call's end: the client cancelled (told before anything else hears of it), the
   * deadline passed, or the server drains.
   */
  readonly abort: CallSignal;
  /** The service's way to end a server stream at once (streamAbortKey). */
  readonly ended: StreamEnd | undefined;
  /** True once the client cancelled (or grpc-js answered a passed deadline itself). */
  cancelled(): boolean;
  /** Sends the handler's response headers once, before the first message or the status. */
  sendHeaders(): void;
  /** The pump is done: the responses ended (no error), or the stream failed with `err`. */
  streamDone(err: unknown): void;
}

/**
 * Writes a server-streaming handler's responses to the call, respecting the socket. However
 * the call ends early (the client cancels, the deadline passes, the server drains, the service
 * aborts the stream), the handler's iterator is returned, so that its finally blocks run now
 * and not never: a generator parked at a yield would otherwise hold its subscription forever.
 *
 * One object per call, and it is its own abort listener (handleEvent): no closures, no
 * promise per listener, and no Promise.race per message (a race against the call's end adds
 * a reaction to that never-settling promise for every message the stream carries). It tells
 * the call's life when it is done (streamDone) rather than settling a promise of its own.
 */
export class StreamPump {
  private readonly responses: AsyncIterator<unknown>;
  private readonly ended: StreamEnd;
  private readonly aborted: CallSignal;
  private finished = false;
  private awaitingDrain = false;
  private readonly onNext: (r: IteratorResult<unknown>) => void;
  private readonly onError: (err: unknown) => void;
  /** Made at the first full socket: most streams never wait for a drain. */
  private onDrain: (() => void) | undefined;

  constructor(
    private readonly call: grpc.ServerWritableStream<unknown, unknown>,
    output: AsyncIterable<unknown>,
    private readonly life: PumpLife,
  ) {
    this.responses = output[Symbol.asyncIterator]();
    this.ended = life.ended!;
    this.aborted = life.abort;
    this.onNext = this.next.bind(this);
    this.onError = this.finish.bind(this);
  }

  /**
   * Starts pumping; life.streamDone tells the end (perhaps at once). A client that cancels
   * is heard through the call's signal: the adapter aborts it when grpc-js says "cancelled"
   * (or answered a passed deadline itself), and life.cancelled() then says so.
   */
  start(): void {
    const ended = this.ended.ended;
    if (ended) return this.finish(ended.reason);
    this.ended.listen(this);
    this.aborted.addEventListener("abort", this);
    this.step();
  }

  /** The service ended the stream (StreamEnd). */
  streamEnded(reason: unknown): void {
    this.finish(reason);
  }

  /** The call's signal aborted (cancel, deadline, drain). */
  handleEvent(): void {
    if (this.finished) return;
    // The client is gone: nobody to answer.
    if (this.life.cancelled()) return this.finish();
    // A slow reader parked on the socket: the handler cannot see the signal, so end it here.
    // (While the handler is running it sees the signal itself and ends the stream its way.)
    if (this.awaitingDrain) this.finish(this.aborted.reason);
  }

  private step(): void {
    this.responses.next().then(this.onNext, this.onError);
  }

  private next(r: IteratorResult<unknown>): void {
    if (this.finished) return;
    if (r.done || this.life.cancelled()) return this.finish();
    this.life.sendHeaders();
    if (this.call.write(r.value)) return this.step();
    // A slow reader parks here; the service can still end the call, a drain or cancel too
    // (also one that came while the handler ran: its event has passed, the signal stays).
    if (this.aborted.aborted) return this.finish(this.aborted.reason);
    this.awaitingDrain = true;
    this.call.once("drain", (this.onDrain ??= this.drained.bind(this)));
  }

  private drained(): void {
    this.awaitingDrain = false;
    if (this.finished) return;
    if (this.aborted.aborted) return this.finish(this.aborted.reason);
    this.step();
  }

  private finish(err?: unknown): void {
    if (this.finished) return;
    this.finished = true;
    this.ended.listen(null);
    this.aborted.removeEventListener("abort", this);
    if (this.awaitingDrain) this.call.removeListener("drain", this.onDrain!);
    // Not awaited: a handler busy in an await finishes that first, and the answer need not wait.
    this.responses.return?.().catch(() => undefined);
    this.life.streamDone(err);
  }
}
