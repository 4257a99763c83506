import { randomUUID } from "node:crypto";
import pg from "pg";
import { backoffDelay } from "../shared/backoff.js";

/** The few log calls the listener makes (a pino logger fits). */
export interface PgListenerLog {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}

/** Options of startPgListener. */
export interface PgListenerOptions {
  /** postgres:// URL of the shared database (the same one the ORM pool uses). */
  url: string;
  /** Channels to LISTEN on, again after every reconnect. */
  channels: readonly string[];
  /** Shown in pg_stat_activity, so operators (and tests) can tell the listener apart. */
  applicationName: string;
  /** First reconnect delay in ms; doubles (with jitter) per failed attempt. @default 100 */
  reconnectMinMs?: number;
  /** Longest reconnect delay in ms. @default 5000 */
  reconnectMaxMs?: number;
  /**
   * A `select 1` on the listening connection this often (ms); no answer within the same time
   * drops and reconnects it (a half-open TCP connection raises no error by itself).
   * @default 10000
   */
  heartbeatMs?: number;
  log?: PgListenerLog;
}

/** A dedicated `pg` connection (not from the ORM pool: a pool hands connections around, LISTEN needs one that stays). */
export interface PgListener {
  /** Registers a notification handler; returns its removal. */
  onNotification(handler: (channel: string, payload: string) => void): () => void;
  /** Called after every reconnection, once it LISTENs again: notifications may have been missed. */
  onReconnect(handler: () => void): void;
  /** NOTIFY through the listening connection; rejects while it is down. */
  notify(channel: string, payload: string): Promise<void>;
  /** Whether the connection is up and listening. */
  readonly connected: boolean;
  close(): Promise<void>;
}

/** Raised when LISTEN/NOTIFY does not work end to end; startup stops with its message. */
export class NotifyRoundTripError extends Error {}

/**
 * Connects, LISTENs on every channel and keeps it so: on error or end the connection is
 * replaced with backoff, the channels are LISTENed again and onReconnect handlers run. The
 * first connection must succeed (startup fails otherwise); later ones are retried forever.
 */
export async function startPgListener(options: PgListenerOptions): Promise<PgListener> {
  const minMs = options.reconnectMinMs ?? 100;
  const maxMs = options.reconnectMaxMs ?? 5000;
  const heartbeatMs = options.heartbeatMs ?? 10_000;
  const handlers = new Set<(channel: string, payload: string) => void>();
  const reconnectHandlers: (() => void)[] = [];
  let client: pg.Client | null = null;
  let closed = false;
  let failures = 0;
  let reconnectTimer: NodeJS.Timeout | null = null;

  async function connect(): Promise<pg.Client> {
    const c = new pg.Client({ connectionString: options.url, application_name: options.applicationName, keepAlive: true });
    // Until it is the current client, errors of a half-made connection are the caller's.
    c.on("error", (err) => lost(c, err));
    c.on("end", () => lost(c, new Error("connection ended")));
    c.on("notification", (m) => {
      for (const h of handlers) h(m.channel, m.payload ?? "");
    });
    try {
      await c.connect();
      for (const channel of options.channels) await c.query(`listen ${quoteIdent(channel)}`);
    } catch (err) {
      c.end().catch(() => undefined);
      throw err;
    }
    return c;
  }

  function lost(c: pg.Client, err: unknown): void {
    if (client !== c) return;
    client = null;
    c.end().catch(() => undefined);
    if (closed) return;
    options.log?.warn({ err: errorText(err) }, "PostgreSQL listener connection lost; reconnecting");
    scheduleReconnect();
  }

  function scheduleReconnect(): void {
    if (closed || reconnectTimer) return;
    const delay = backoffDelay(failures, { initialMs: minMs, maxMs, jitter: 0.5 });
    failures++;
    reconnectTimer = setTimeout(() => {
      reconnectTimer = null;
      connect().then(
        (c) => {
          if (closed) {
            c.end().catch(() => undefined);
            return;
          }
          client = c;
          failures = 0;
          options.log?.info({ channels: options.channels }, "PostgreSQL listener reconnected");
          for (const h of reconnectHandlers) h();
        },
        (err) => {
          options.log?.warn({ err: errorText(err), attempt: failures }, "PostgreSQL listener reconnect failed");
          scheduleReconnect();
        },
      );
    }, delay);
    reconnectTimer.unref();
  }

  client = await connect();

  const heartbeat = setInterval(() => {
    const c = client;
    if (!c) return;
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`no answer to a heartbeat within ${heartbeatMs} ms`)), heartbeatMs);
    });
    Promise.race([c.query("select 1"), deadline])
      .catch((err: unknown) => lost(c, err))
      .finally(() => clearTimeout(timer));
  }, heartbeatMs);
  heartbeat.unref();

  return {
    onNotification(handler) {
      handlers.add(handler);
      return () => void handlers.delete(handler);
    },
    onReconnect(handler) {
      reconnectHandlers.push(handler);
    },
    async notify(channel, payload) {
      const c = client;
      if (!c) throw new Error("the PostgreSQL listener is reconnecting");
      await c.query("select pg_notify($1, $2)", [channel, payload]);
    },
    get connected() {
      return client !== null;
    },
    async close() {
      closed = true;
      clearInterval(heartbeat);
      if (reconnectTimer) clearTimeout(reconnectTimer);
      const c = client;
      client = null;
      handlers.clear();
      if (c) await c.end().catch(() => undefined);
    },
  };
}

/**
 * The startup self-test: a nonce NOTIFYed through `send` (the ORM pool, the path commits
 * take) must come back on the listening connection within `timeoutMs`. Behind a
 * transaction-pooling proxy LISTEN is accepted but never delivers: without this check the
 * replicas would silently fall back to the slow catch-up read.
 */
export async function checkNotifyRoundTrip(
  listener: PgListener,
  send: (channel: string, payload: string) => Promise<void>,
  options: { channel: string; timeoutMs: number },
): Promise<void> {
  const nonce = randomUUID();
  let off = (): void => undefined;
  let timer: NodeJS.Timeout | undefined;
  try {
    await new Promise<void>((resolve, reject) => {
      off = listener.onNotification((channel, payload) => {
        if (channel === options.channel && payload === nonce) resolve();
      });
      timer = setTimeout(
        () =>
          reject(
            new NotifyRoundTripError(
              `PostgreSQL LISTEN/NOTIFY self-test failed: a NOTIFY sent through the connection pool did not ` +
                `reach the listening connection within ${options.timeoutMs} ms. Replicas learn of each other's ` +
                `commits, answers and live lines this way. If a transaction-pooling proxy (for example PgBouncer ` +
                `with pool_mode=transaction) sits between taskcontrol and PostgreSQL, point --db at PostgreSQL ` +
                `directly or at a session-pooling port.`,
            ),
          ),
        options.timeoutMs,
      );
      send(options.channel, nonce).catch(reject);
    });
  } finally {
    off();
    clearTimeout(timer);
  }
}

function quoteIdent(name: string): string {
  return `"${name.replaceAll('"', '""')}"`;
}

function errorText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
