import type { JsonObject, SequencedEvent } from "../domain/model.js";

/**
 * PostgreSQL refuses NOTIFY payloads of 8000 bytes or more; this leaves room for a
 * misjudged byte or two.
 */
export const MAX_LIVE_PAYLOAD_BYTES = 7900;

/** One live line as it crosses replicas. */
export interface LiveLine {
  readonly taskId: string;
  readonly owner: string;
  readonly progress: number;
  readonly label: string;
  readonly checkpoint: JsonObject | null;
  readonly time: number;
}

/** Wire form: compact arrays, so a payload holds many lines. */
type WireLine = [taskId: string, owner: string, progress: number, label: string, checkpoint: JsonObject | null, time: number];
interface WirePayload {
  /** Sending replica: a replica ignores its own payloads (LISTEN hears its own NOTIFY). */
  r: string;
  /** The sender's last published sequence when it sent: the line follows that event. */
  s: number;
  l: WireLine[];
}

/**
 * Packs lines into as few payloads as fit `maxBytes` each. A line too big alone loses its
 * checkpoint first (it can be 64 KiB), then as much of its label as needed.
 */
export function encodeLiveLines(
  replicaId: string,
  sequence: number,
  lines: readonly LiveLine[],
  maxBytes = MAX_LIVE_PAYLOAD_BYTES,
): string[] {
  const head = (entries: string[]) => `{"r":${JSON.stringify(replicaId)},"s":${sequence},"l":[${entries.join(",")}]}`;
  const overhead = Buffer.byteLength(head([]), "utf8");
  const room = maxBytes - overhead;
  const payloads: string[] = [];
  let entries: string[] = [];
  let used = 0;
  for (const line of lines) {
    const entry = fitLine(line, room);
    if (entry === null) continue;
    const bytes = Buffer.byteLength(entry, "utf8") + (entries.length > 0 ? 1 : 0);
    if (used + bytes > room && entries.length > 0) {
      payloads.push(head(entries));
      entries = [];
      used = 0;
    }
    used += Buffer.byteLength(entry, "utf8") + (entries.length > 0 ? 1 : 0);
    entries.push(entry);
  }
  if (entries.length > 0) payloads.push(head(entries));
  return payloads;
}

function fitLine(line: LiveLine, room: number): string | null {
  const wire = (label: string, checkpoint: JsonObject | null): string =>
    JSON.stringify([line.taskId, line.owner, line.progress, label, checkpoint, line.time] satisfies WireLine);
  let entry = wire(line.label, line.checkpoint);
  if (Buffer.byteLength(entry, "utf8") <= room) return entry;
  entry = wire(line.label, null);
  if (Buffer.byteLength(entry, "utf8") <= room) return entry;
  // Cut the label by code points until it fits (JSON escaping makes the size non-linear).
  const chars = [...line.label];
  let lo = 0;
  let hi = chars.length;
  while (lo < hi) {
    const mid = Math.ceil((lo + hi) / 2);
    if (Buffer.byteLength(wire(chars.slice(0, mid).join(""), null), "utf8") <= room) lo = mid;
    else hi = mid - 1;
  }
  entry = wire(chars.slice(0, lo).join(""), null);
  return Buffer.byteLength(entry, "utf8") <= room ? entry : null;
}

/** Parses a payload; null if it is not one (another program on the channel, or garbage). */
export function decodeLiveLines(payload: string): { replicaId: string; sequence: number; lines: LiveLine[] } | null {
  let parsed: unknown;
  try {
    parsed = JSON.parse(payload);
  } catch {
    return null;
  }
  const p = parsed as Partial<WirePayload>;
  if (typeof p !== "object" || p === null || typeof p.r !== "string" || typeof p.s !== "number" || !Array.isArray(p.l)) {
    return null;
  }
  const lines: LiveLine[] = [];
  for (const w of p.l) {
    if (!Array.isArray(w) || w.length !== 6) continue;
    const [taskId, owner, progress, label, checkpoint, time] = w as unknown[];
    if (typeof taskId !== "string" || typeof owner !== "string" || typeof progress !== "number") continue;
    if (typeof label !== "string" || typeof time !== "number") continue;
    const cp = checkpoint !== null && typeof checkpoint === "object" && !Array.isArray(checkpoint) ? (checkpoint as JsonObject) : null;
    lines.push({ taskId, owner, progress, label, checkpoint: cp, time });
  }
  return { replicaId: p.r, sequence: p.s, lines };
}

/** Options of createLiveRelay. */
export interface LiveRelayOptions {
  /** This replica's id, carried in every payload. */
  replicaId: string;
  /** Sends one payload (a NOTIFY on the live channel). */
  send(payload: string): Promise<void>;
  /** Hands received lines to this replica's watchers. */
  deliver(events: readonly SequencedEvent[]): void;
  /** This replica's last published sequence. */
  lastSequence(): number;
  /** Asks the feed to read the log up to a sequence another replica already published. */
  want(sequence: number): void;
  /**
   * Longest time (ms) a received line waits for the persisted event it follows to be
   * published here; then it goes anyway (a line is a hint, never worth holding long).
   * @default 1000
   */
  holdMs?: number;
  /** @default MAX_LIVE_PAYLOAD_BYTES */
  maxPayloadBytes?: number;
  /** Told when a send fails (the lines are dropped: live lines are best effort). */
  onError?(err: unknown): void;
}

/** Live lines across replicas, without touching a table. */
export interface LiveRelay {
  /** Lines this replica emitted, for the other replicas. */
  offer(events: readonly SequencedEvent[]): void;
  /** A payload heard on the live channel. */
  receive(payload: string): void;
  /** This replica published more persisted events: held lines that follow them may go. */
  published(): void;
  close(): void;
}

/**
 * Outgoing: lines are coalesced per task (the latest wins, as in a watcher's queue) and
 * sent once per event-loop tick, or, while a NOTIFY is in flight, as soon as it returns; so
 * a fast emitter costs at most one NOTIFY in flight, however many lines it writes.
 * Incoming: a line that follows a persisted event this replica has not published yet waits
 * for it (or holdMs), so a watcher never sees a line of a task before the task.
 */
export function createLiveRelay(options: LiveRelayOptions): LiveRelay {
  const holdMs = options.holdMs ?? 1000;
  const maxBytes = options.maxPayloadBytes ?? MAX_LIVE_PAYLOAD_BYTES;
  let outgoing = new Map<string, LiveLine>();
  let outgoingSequence = 0;
  let scheduled = false;
  let inFlight = false;
  let closed = false;
  /** Received lines waiting for their sequence, per task (latest wins). */
  const held = new Map<string, { line: LiveLine; sequence: number; until: number }>();
  let holdTimer: NodeJS.Timeout | null = null;

  function schedule(): void {
    if (scheduled || inFlight || closed) return;
    scheduled = true;
    setImmediate(flush);
  }

  function flush(): void {
    scheduled = false;
    if (outgoing.size === 0 || closed) return;
    const lines = [...outgoing.values()];
    outgoing = new Map();
    const payloads = encodeLiveLines(options.replicaId, outgoingSequence, lines, maxBytes);
    inFlight = true;
    (async () => {
      for (const p of payloads) await options.send(p);
    })()
      .catch((err: unknown) => options.onError?.(err))
      .finally(() => {
        inFlight = false;
        if (outgoing.size > 0) schedule();
      });
  }

  function toEvent(line: LiveLine): SequencedEvent {
    return {
      // Stamped with this replica's last published sequence, as a local line would be.
      sequence: options.lastSequence(),
      time: line.time,
      taskId: line.taskId,
      owner: line.owner,
      event: {
        type: "progress",
        taskId: line.taskId,
        owner: line.owner,
        progress: line.progress,
        label: line.label,
        checkpoint: line.checkpoint,
        persisted: false,
      },
    };
  }

  function release(force: boolean): void {
    const last = options.lastSequence();
    const now = Date.now();
    const ready: SequencedEvent[] = [];
    for (const [taskId, h] of held) {
      if (force || h.sequence <= last || h.until <= now) {
        held.delete(taskId);
        ready.push(toEvent(h.line));
      }
    }
    if (ready.length > 0) options.deliver(ready);
    if (held.size === 0 && holdTimer) {
      clearTimeout(holdTimer);
      holdTimer = null;
    }
  }

  return {
    offer(events) {
      if (closed) return;
      for (const e of events) {
        if (e.event.type !== "progress" || e.event.persisted) continue;
        const { taskId, owner, progress, label, checkpoint } = e.event;
        outgoing.delete(taskId); // re-insert: the map's order is the order lines were last written
        outgoing.set(taskId, { taskId, owner, progress, label, checkpoint, time: e.time });
        outgoingSequence = Math.max(outgoingSequence, e.sequence);
      }
      schedule();
    },

    receive(payload) {
      if (closed) return;
      const decoded = decodeLiveLines(payload);
      if (!decoded || decoded.replicaId === options.replicaId || decoded.lines.length === 0) return;
      const last = options.lastSequence();
      if (decoded.sequence <= last && held.size === 0) {
        options.deliver(decoded.lines.map(toEvent));
        return;
      }
      const until = Date.now() + holdMs;
      for (const line of decoded.lines) {
        held.delete(line.taskId);
        held.set(line.taskId, { line, sequence: decoded.sequence, until });
      }
      if (decoded.sequence > last) options.want(decoded.sequence);
      release(false);
      if (held.size > 0 && !holdTimer) {
        holdTimer = setTimeout(() => {
          holdTimer = null;
          release(true);
        }, holdMs);
        holdTimer.unref();
      }
    },

    published() {
      if (held.size > 0) release(false);
    },

    close() {
      closed = true;
      outgoing.clear();
      held.clear();
      if (holdTimer) clearTimeout(holdTimer);
    },
  };
}
