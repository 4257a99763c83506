import { readFileSync } from "node:fs";
import * as http2 from "node:http2";
import type { ConnectionConfig } from "../../config.js";

/**
 * How long a connection may stay in each phase and how many a listener holds. Which timeout
 * applies to what:
 * - initial: a new connection until its first byte (TLS: until the handshake ends);
 * - headers / request: one HTTP/1.1 request until its headers / its whole body arrived (the
 *   response, however long it streams, is not timed);
 * - keep-alive: an HTTP/1.1 connection between two requests;
 * - HTTP/2 idle: a session with no open stream (an open stream, even a silent held one,
 *   keeps it); keepalive PINGs find dead peers under open streams instead.
 */
export type ConnectionOptions = Omit<ConnectionConfig, "maxProbeStreams" | "maxProbeStreamsPerAddress">;

/** Node's own defaults, for callers (tests, tools) that do not configure them. */
export const DEFAULT_CONNECTION_OPTIONS: ConnectionOptions = Object.freeze({
  initialTimeoutMs: 10_000,
  headersTimeoutMs: 30_000,
  requestTimeoutMs: 300_000,
  keepAliveTimeoutMs: 5_000,
  http2IdleTimeoutMs: 300_000,
  keepaliveIntervalMs: 30_000,
  keepaliveTimeoutMs: 10_000,
  maxConnections: 8_000,
});

/**
 * Closes an HTTP/2 server session once it has had no open stream for the idle timeout, and
 * PINGs it every keepalive interval, destroying it when a PING goes unanswered: a silent
 * held stream on a live peer stays, a dead or hostile peer goes.
 */
export function guardSession(session: http2.Http2Session, options: ConnectionOptions): void {
  let open = 0;
  let idle: NodeJS.Timeout | undefined;
  let pingTimer: NodeJS.Timeout | undefined;
  const armIdle = () => {
    idle = setTimeout(() => {
      session.close();
      // A peer that reads nothing never lets the GOAWAY out: do not wait on it for ever.
      setTimeout(() => session.destroy(), options.keepaliveTimeoutMs).unref();
    }, options.http2IdleTimeoutMs);
    idle.unref();
  };
  armIdle();
  session.on("stream", (stream: http2.ServerHttp2Stream) => {
    open++;
    clearTimeout(idle);
    stream.once("close", () => {
      if (--open === 0 && !session.closed) armIdle();
    });
  });
  const keepalive = setInterval(() => {
    if (pingTimer || session.destroyed) return;
    pingTimer = setTimeout(() => session.destroy(), options.keepaliveTimeoutMs);
    pingTimer.unref();
    try {
      session.ping((err) => {
        clearTimeout(pingTimer);
        pingTimer = undefined;
        if (err) session.destroy();
      });
    } catch {
      session.destroy();
    }
  }, options.keepaliveIntervalMs);
  keepalive.unref();
  session.once("close", () => {
    clearTimeout(idle);
    clearTimeout(pingTimer);
    clearInterval(keepalive);
  });
}

/**
 * A response sent before its request was read to the end (a message over the size limit,
 * an early error) leaves the client sending into a window the server no longer opens: its
 * stream never ends. After the response, reset the stream with NO_ERROR, as RFC 9113 §8.1
 * lets a server do, so the client stops sending and sees the stream close.
 */
export function endUnreadRequests(stream: http2.ServerHttp2Stream): void {
  const release = () =>
    setImmediate(() => {
      if (!stream.destroyed && !stream.closed && !stream.readableEnded) stream.close(http2.constants.NGHTTP2_NO_ERROR);
    });
  // The compatibility response sends its trailers from its own (earlier) listener.
  stream.once("wantTrailers", release);
}

/**
 * The soft limit on open file descriptors (Linux: /proc/self/limits), or undefined where
 * it cannot be read. Both listeners together must stay under it with room for the database,
 * logs and outbound connections.
 */
export function openFileLimit(): number | undefined {
  try {
    const m = /^Max open files\s+(\d+)/m.exec(readFileSync("/proc/self/limits", "utf8"));
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}

/** Descriptors kept free for everything but client connections. */
export const RESERVED_DESCRIPTORS = 512;

/**
 * The per-listener connection cap actually used: `wanted`, lowered so that two full
 * listeners leave RESERVED_DESCRIPTORS free under `fdLimit`. Returns the cap and whether it
 * was lowered.
 */
export function connectionCap(wanted: number, fdLimit: number | undefined): { cap: number; lowered: boolean } {
  if (fdLimit === undefined) return { cap: wanted, lowered: false };
  const room = Math.max(1, Math.floor((fdLimit - RESERVED_DESCRIPTORS) / 2));
  return wanted > room ? { cap: room, lowered: true } : { cap: wanted, lowered: false };
}
