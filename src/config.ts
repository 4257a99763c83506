import { parseArgs } from "node:util";
import { levels } from "pino";
import { AddressError, isLoopbackHost, parseHostPort } from "./shared/address.js";
import type { Durability } from "./store/orm.js";

/** The server's configuration, validated once and frozen. Flags win over the environment. */
export interface Config {
  /** gRPC listener, host:port. @default "127.0.0.1:50051" */
  readonly grpcListen: string;
  /** HTTP (Connect, gRPC-Web, monitor, health, metrics) listener. @default "127.0.0.1:8080" */
  readonly httpListen: string;
  /** SQLite file path or postgres:// URL. @default "./data/taskcontrol.sqlite" */
  readonly db: string;
  /** SQLite synchronous mode: normal survives process crashes; full also power loss. @default "normal" */
  readonly durability: Durability;
  /** JSON file of principals and token hashes; auth is off without it (loopback only). */
  readonly authFile: string | undefined;
  /** PEM certificate chain both listeners serve; plaintext (h2c, HTTP/1.1) when unset. */
  readonly tlsCert: string | undefined;
  /** PEM private key of tlsCert; the two go together. */
  readonly tlsKey: string | undefined;
  /** CA bundle for client certificates; clients must present one when set. */
  readonly tlsClientCa: string | undefined;
  /** Allows serving without auth on non-loopback addresses. @default false */
  readonly insecure: boolean;
  /** pino level. @default "info" */
  readonly logLevel: string;
  /** Idle time before a watch bookmark, in ms. @default 15000 */
  readonly bookmarkMs: number;
  /** Events kept in the log at most. @default 1000000 */
  readonly retainEvents: number;
  /** Age after which events leave the log, in ms. @default 7 days */
  readonly retainAgeMs: number;
  /** Finished tasks (and their confirmations) older than this are deleted, in ms; 0 keeps them. @default 30 days */
  readonly taskRetentionAgeMs: number;
  /** How often the retention sweep runs (the event log trimmed, old finished tasks purged), in ms. @default 60000 */
  readonly retentionIntervalMs: number;
  /** Persisted events a watcher may lag before its stream ends RESOURCE_EXHAUSTED. @default 10000 */
  readonly watchQueue: number;
  /** How long shutdown waits for in-flight calls, in ms. @default 10000 */
  readonly shutdownGraceMs: number;
  /** Directory of the web monitor's built files. @default "<package>/web/dist" */
  readonly webDir: string | undefined;
  /**
   * Streams (watches, held confirmations, progress streams) one principal may hold open at
   * once on both listeners together; past it RESOURCE_EXHAUSTED. @default 1000
   */
  readonly maxStreamsPerPrincipal: number;
  /**
   * PostgreSQL replicas: how often each reads the event log in case a NOTIFY was missed, in
   * ms (notifications normally deliver within milliseconds). @default 1000
   */
  readonly pgCatchUpMs: number;
  /** Connection limits and timeouts of both listeners (see transport/http/connections.ts). */
  readonly connections: ConnectionConfig;
  /**
   * How often the SQLite files at --db are compared with the open ones (deleted or replaced
   * under the server: it stops) and a database that failed to commit is probed, in ms. @default 500
   */
  readonly dbCheckMs: number;
  /** A write not committed after this long marks the database unwritable (not ready), in ms. @default 10000 */
  readonly dbStallMs: number;
  /** A STALLED task whose stall lasted this many ms is failed (with details); 0 = never. */
  readonly stallFailAfterMs: number;
}

/** How long a connection may stay in each phase, and how many each listener holds. */
export interface ConnectionConfig {
  /** A new HTTP connection must send its first bytes within this, in ms. @default 10000 */
  readonly initialTimeoutMs: number;
  /** An HTTP/1.1 request's headers must arrive within this, in ms (408 past it). @default 30000 */
  readonly headersTimeoutMs: number;
  /** An HTTP/1.1 request (headers and body) must arrive within this, in ms (408). @default 300000 */
  readonly requestTimeoutMs: number;
  /** An HTTP/1.1 keep-alive connection idle between requests is closed after this, in ms. @default 5000 */
  readonly keepAliveTimeoutMs: number;
  /** An HTTP/2 session (h2c, h2, gRPC) with no open stream is closed after this, in ms. @default 300000 */
  readonly http2IdleTimeoutMs: number;
  /** HTTP/2 keepalive: a PING after this much silence, in ms. @default 30000 */
  readonly keepaliveIntervalMs: number;
  /** HTTP/2 keepalive: a session whose PING is unanswered this long is dropped, in ms. @default 10000 */
  readonly keepaliveTimeoutMs: number;
  /** Connections each listener holds at once; past it the newest is closed. @default 8000 */
  readonly maxConnections: number;
  /** Open grpc.health.v1 Watch plus reflection streams, all callers together. @default 1000 */
  readonly maxProbeStreams: number;
  /** The same, per remote address. @default 100 */
  readonly maxProbeStreamsPerAddress: number;
}

/** One setting of the table: a flag, its environment variable, its default and its check. */
export interface Setting<T> {
  /** The environment variable read when the flag is absent. */
  readonly env: string;
  /** One line a newcomer needs, with units; --help and the README show it. */
  readonly description: string;
  /** What the value looks like in --help (HOST:PORT, MS, PATH, …); absent for a switch. */
  readonly value?: string;
  /** The default as --help and the README show it; absent when there is none. */
  readonly shown?: string;
  /** The value when neither the flag nor the environment gives one. */
  readonly fallback: T;
  /** Checks a raw value and converts it; throws a message saying what is wanted. */
  parse(raw: string): T;
  /** An older flag and environment variable still read for this setting (the new name wins). */
  readonly alias?: { readonly flag: string; readonly env: string };
}

/** Node's timers fire at once past this (a 32-bit signed count of ms). */
const TIMER_MAX_MS = 2 ** 31 - 1;

function text<F extends string | undefined>(env: string, value: string, fallback: F, description: string, shown?: string): Setting<string | F> {
  return {
    env,
    value,
    description,
    fallback,
    ...(shown !== undefined || fallback !== undefined ? { shown: shown ?? fallback } : {}),
    parse: (raw) => raw,
  };
}

function listen(env: string, fallback: string, description: string): Setting<string> {
  return {
    env,
    value: "HOST:PORT",
    description,
    fallback,
    shown: fallback,
    parse(raw) {
      try {
        parseHostPort(raw);
      } catch (err) {
        throw new Error(err instanceof AddressError ? err.reason : String(err));
      }
      return raw;
    },
  };
}

function integer(env: string, fallback: number, min: number, description: string, options: { max?: number; shown?: string } = {}): Setting<number> {
  const max = options.max ?? Number.MAX_SAFE_INTEGER;
  const unit = env.endsWith("_MS") ? "MS" : "N";
  return {
    env,
    value: unit,
    description,
    fallback,
    shown: options.shown ?? String(fallback),
    parse(raw) {
      const n = /^-?\d+$/.test(raw.trim()) ? Number(raw) : NaN;
      if (!Number.isSafeInteger(n) || n < min || n > max) {
        throw new Error(`must be an integer ≥ ${min}${options.max !== undefined ? ` and ≤ ${max}` : ""}${unit === "MS" ? " (milliseconds)" : ""}`);
      }
      return n;
    },
  };
}

/** A timer's period or timeout in ms: bounded to what setTimeout can wait. */
function ms(env: string, fallback: number, min: number, description: string, shown?: string): Setting<number> {
  return integer(env, fallback, min, description, { max: TIMER_MAX_MS, ...(shown ? { shown } : {}) });
}

function oneOf<const V extends string>(env: string, values: readonly V[], fallback: V, description: string): Setting<V> {
  return {
    env,
    value: values.join("|"),
    description,
    fallback,
    shown: fallback,
    parse(raw) {
      if (!(values as readonly string[]).includes(raw)) throw new Error(`must be one of ${values.join(", ")}`);
      return raw as V;
    },
  };
}

function toggle(env: string, description: string): Setting<boolean> {
  return {
    env,
    description,
    fallback: false,
    shown: "off",
    parse(raw) {
      if (/^(1|true|yes|on)$/i.test(raw)) return true;
      if (/^(0|false|no|off)$/i.test(raw)) return false;
      throw new Error("must be true or false (or 1/0, yes/no, on/off)");
    },
  };
}

/** pino's levels, plus silent. */
const LOG_LEVELS = [...(Object.keys(levels.values) as ("trace" | "debug" | "info" | "warn" | "error" | "fatal")[]), "silent" as const];

/**
 * Every setting, one entry per flag, in the order --help and the README list them. Add a
 * flag here (and its field to Config); run `npm run docs` to
 * rewrite the README's table.
 */
export const SETTINGS = {
  "grpc-listen": listen("TASKCONTROL_GRPC_LISTEN", "127.0.0.1:50051", "Native gRPC listener (workers' hot path); port 0 picks a free port and the bound address is printed"),
  "http-listen": listen("TASKCONTROL_HTTP_LISTEN", "127.0.0.1:8080", "HTTP listener: Connect, gRPC-Web and gRPC, the web monitor, /healthz and /metrics; port 0 as above"),
  db: text("TASKCONTROL_DB", "PATH|URL", "./data/taskcontrol.sqlite", "SQLite file (created with its schema), or a postgres:// URL to share one PostgreSQL between replicas"),
  durability: oneOf("TASKCONTROL_DURABILITY", ["normal", "full"], "normal", "SQLite sync mode: normal survives a process crash, full also a power loss (slower commits)"),
  "auth-file": text("TASKCONTROL_AUTH_FILE", "PATH", undefined, "JSON file of principals and token hashes (see Security); without it auth is off and only loopback listeners are allowed", "none (auth off)"),
  "tls-cert": text("TASKCONTROL_TLS_CERT", "PATH", undefined, "PEM certificate chain both listeners serve (with --tls-key); plaintext h2c and HTTP/1.1 without it", "none (plaintext)"),
  "tls-key": text("TASKCONTROL_TLS_KEY", "PATH", undefined, "PEM private key of --tls-cert", "none"),
  "tls-client-ca": text("TASKCONTROL_TLS_CLIENT_CA", "PATH", undefined, "PEM CA bundle: clients must present a certificate it signed (needs --tls-cert)", "none"),
  insecure: toggle("TASKCONTROL_INSECURE", "Serve without auth on non-loopback addresses (only behind something that authenticates)"),
  "log-level": oneOf("TASKCONTROL_LOG_LEVEL", LOG_LEVELS, "info", "JSON log lines on stdout at this level and above; debug adds a line per call"),
  "bookmark-interval-ms": ms("TASKCONTROL_BOOKMARK_INTERVAL_MS", 15_000, 10, "An idle watch stream gets a bookmark (the latest sequence) after this many ms"),
  "event-retention-count": integer("TASKCONTROL_EVENT_RETENTION_COUNT", 1_000_000, 1, "Events kept in the log for resuming watchers (after_sequence), at most"),
  "event-retention-age-ms": integer("TASKCONTROL_EVENT_RETENTION_AGE_MS", 7 * 24 * 3600 * 1000, 1000, "Events older than this many ms leave the log", { shown: "604800000 (7 days)" }),
  "task-retention-age-ms": integer("TASKCONTROL_TASK_RETENTION_AGE_MS", 30 * 24 * 3600 * 1000, 0, "Finished tasks that ended more than this many ms ago are deleted with their confirmations (then NOT_FOUND); 0 keeps them forever", { shown: "2592000000 (30 days)" }),
  "retention-interval-ms": {
    ...ms("TASKCONTROL_RETENTION_INTERVAL_MS", 60_000, 10, "How often the retention sweep runs: the event log trimmed to its two bounds, old finished tasks purged in batches, in ms"),
    alias: { flag: "event-retention-interval-ms", env: "TASKCONTROL_EVENT_RETENTION_INTERVAL_MS" },
  },
  "watch-queue": integer("TASKCONTROL_WATCH_QUEUE", 10_000, 1, "Persisted events a watcher may lag behind before its stream ends RESOURCE_EXHAUSTED (it resumes)"),
  "shutdown-grace-ms": ms("TASKCONTROL_SHUTDOWN_GRACE_MS", 10_000, 0, "On SIGTERM/SIGINT, how long in-flight calls may finish, in ms"),
  "web-dir": text("TASKCONTROL_WEB_DIR", "PATH", undefined, "Directory of the web monitor's built files", "web/dist of the package"),
  "max-streams-per-principal": integer("TASKCONTROL_MAX_STREAMS_PER_PRINCIPAL", 1000, 1, "Open streams (watches, held confirmations, progress streams) per principal on both listeners; past it RESOURCE_EXHAUSTED"),
  "pg-catch-up-ms": ms("TASKCONTROL_PG_CATCH_UP_MS", 1000, 10, "PostgreSQL: how often each replica reads the event log in case a NOTIFY was missed, in ms"),
  "http-initial-timeout-ms": ms("TASKCONTROL_HTTP_INITIAL_TIMEOUT_MS", 10_000, 10, "A new connection must send its first bytes within this many ms"),
  "http-headers-timeout-ms": ms("TASKCONTROL_HTTP_HEADERS_TIMEOUT_MS", 30_000, 10, "An HTTP/1.1 request's headers must arrive within this many ms (408 past it)"),
  "http-request-timeout-ms": ms("TASKCONTROL_HTTP_REQUEST_TIMEOUT_MS", 300_000, 10, "An HTTP/1.1 request (headers and body) must arrive within this many ms (408)"),
  "http-keep-alive-timeout-ms": ms("TASKCONTROL_HTTP_KEEP_ALIVE_TIMEOUT_MS", 5_000, 10, "An idle HTTP/1.1 keep-alive connection is closed after this many ms"),
  "http2-idle-timeout-ms": ms("TASKCONTROL_HTTP2_IDLE_TIMEOUT_MS", 300_000, 10, "An HTTP/2 session (gRPC, h2c, h2) with no open stream is closed after this many ms"),
  "keepalive-interval-ms": ms("TASKCONTROL_KEEPALIVE_INTERVAL_MS", 30_000, 10, "HTTP/2 keepalive: a PING after this many ms of silence"),
  "keepalive-timeout-ms": ms("TASKCONTROL_KEEPALIVE_TIMEOUT_MS", 10_000, 10, "HTTP/2 keepalive: a session whose PING is unanswered this many ms is dropped"),
  "max-connections": integer("TASKCONTROL_MAX_CONNECTIONS", 8_000, 1, "Connections each listener holds at once (lowered to fit the open file limit); past it the newest is closed"),
  "max-probe-streams": integer("TASKCONTROL_MAX_PROBE_STREAMS", 1_000, 1, "Open grpc.health.v1 Watch and reflection streams, all callers together"),
  "max-probe-streams-per-address": integer("TASKCONTROL_MAX_PROBE_STREAMS_PER_ADDRESS", 100, 1, "The same, per remote address"),
  "db-check-ms": ms("TASKCONTROL_DB_CHECK_MS", 500, 10, "How often the SQLite files at --db are checked (deleted or replaced: the server stops, exit 74) and a failing database is probed, in ms"),
  "db-stall-ms": ms("TASKCONTROL_DB_STALL_MS", 10_000, 100, "A write not committed after this many ms marks the database unwritable (not ready)"),
  "stall-fail-after-ms": ms("TASKCONTROL_STALL_FAIL_AFTER_MS", 0, 0, "A STALLED task (its lease lapsed with no word from the worker) still stalled after this many ms is FAILED with details; 0 = never"),
} satisfies Record<string, Setting<unknown>>;

/** A flag of the table. */
export type SettingName = keyof typeof SETTINGS;

/** The usage text printed by --help: every flag with its environment variable, default and description. */
export const USAGE = [
  "usage: taskcontrol [options]",
  "",
  "Every flag can also be set by its environment variable; a flag wins. A value starting",
  "with '-' is written --flag=-1.",
  "",
  ...Object.entries(SETTINGS).flatMap(([flag, s]: [string, Setting<unknown>]) => [
    `  --${flag}${s.value ? ` ${s.value}` : ""}`,
    `      ${s.description}.`,
    `      env ${s.env}${s.shown !== undefined ? `; default ${s.shown}` : ""}`,
    ...(s.alias ? [`      also read as --${s.alias.flag} / ${s.alias.env} (older name)`] : []),
  ]),
  "  --help, -h",
  "      Print this and exit.",
].join("\n");

/** Raised for bad configuration; main prints its message on one line and exits 2. */
export class ConfigError extends Error {}

/** Where a value came from, as an operator would write it. */
function source(flag: string, s: Setting<unknown>, fromFlag: boolean, raw: string): string {
  return fromFlag ? `--${flag} ${JSON.stringify(raw)}` : `${s.env}=${JSON.stringify(raw)} (--${flag})`;
}

/** Reads every setting of the table from flags, then the environment, then its default. */
function readSettings(input: { argv: string[]; env: Record<string, string | undefined> }): {
  [K in SettingName]: ReturnType<(typeof SETTINGS)[K]["parse"]> | (typeof SETTINGS)[K]["fallback"];
} {
  let values: Record<string, string | boolean | undefined>;
  try {
    values = parseArgs({
      args: input.argv,
      options: Object.fromEntries(
        Object.entries(SETTINGS).flatMap(([k, s]: [string, Setting<unknown>]) => {
          const type = s.value ? ("string" as const) : ("boolean" as const);
          return s.alias ? [[k, { type }], [s.alias.flag, { type }]] : [[k, { type }]];
        }),
      ),
      strict: true,
      allowPositionals: false,
    }).values as Record<string, string | boolean | undefined>;
  } catch (err) {
    const message = (err as Error).message;
    const ambiguous = /^Option '(--[\w-]+)' argument is ambiguous/.exec(message);
    const first = ambiguous
      ? `${ambiguous[1]}: a value starting with "-" is written ${ambiguous[1]}=VALUE`
      : message.split("\n")[0]!.replace(/\. This command does not take positional arguments/, "");
    throw new ConfigError(`${first} (taskcontrol --help lists the flags)`);
  }
  const out: Record<string, unknown> = {};
  for (const [flag, s] of Object.entries(SETTINGS) as [string, Setting<unknown>][]) {
    // The setting's own name first, then its older one (flag, then environment, for each).
    const names = s.alias ? [{ flag, env: s.env }, s.alias] : [{ flag, env: s.env }];
    const given = names.map((n) => ({ ...n, v: values[n.flag], e: input.env[n.env] }));
    const byFlag = given.find((n) => n.v !== undefined);
    if (byFlag?.v === true) {
      out[flag] = true;
      continue;
    }
    const byEnv = given.find((n) => n.e !== undefined && n.e !== "");
    const from = byFlag ?? byEnv;
    const raw = byFlag ? (byFlag.v as string) : byEnv?.e;
    if (from === undefined || raw === undefined) {
      out[flag] = s.fallback;
      continue;
    }
    try {
      out[flag] = s.parse(raw);
    } catch (err) {
      throw new ConfigError(`${source(from.flag, { ...s, env: from.env }, byFlag !== undefined, raw)}: ${(err as Error).message} (see --help)`);
    }
  }
  return out as ReturnType<typeof readSettings>;
}

/** Parses flags and environment (the only reader of process.env is main, through this). */
export function loadConfig(input: { argv: string[]; env: Record<string, string | undefined> }): Config {
  const v = readSettings(input);
  const config: Config = {
    grpcListen: v["grpc-listen"],
    httpListen: v["http-listen"],
    db: v.db,
    durability: v.durability,
    authFile: v["auth-file"],
    tlsCert: v["tls-cert"],
    tlsKey: v["tls-key"],
    tlsClientCa: v["tls-client-ca"],
    insecure: v.insecure,
    logLevel: v["log-level"],
    bookmarkMs: v["bookmark-interval-ms"],
    retainEvents: v["event-retention-count"],
    retainAgeMs: v["event-retention-age-ms"],
    taskRetentionAgeMs: v["task-retention-age-ms"],
    retentionIntervalMs: v["retention-interval-ms"],
    watchQueue: v["watch-queue"],
    shutdownGraceMs: v["shutdown-grace-ms"],
    webDir: v["web-dir"],
    maxStreamsPerPrincipal: v["max-streams-per-principal"],
    pgCatchUpMs: v["pg-catch-up-ms"],
    connections: Object.freeze({
      initialTimeoutMs: v["http-initial-timeout-ms"],
      headersTimeoutMs: v["http-headers-timeout-ms"],
      requestTimeoutMs: v["http-request-timeout-ms"],
      keepAliveTimeoutMs: v["http-keep-alive-timeout-ms"],
      http2IdleTimeoutMs: v["http2-idle-timeout-ms"],
      keepaliveIntervalMs: v["keepalive-interval-ms"],
      keepaliveTimeoutMs: v["keepalive-timeout-ms"],
      maxConnections: v["max-connections"],
      maxProbeStreams: v["max-probe-streams"],
      maxProbeStreamsPerAddress: v["max-probe-streams-per-address"],
    }),
    dbCheckMs: v["db-check-ms"],
    dbStallMs: v["db-stall-ms"],
    stallFailAfterMs: v["stall-fail-after-ms"],
  };
  if (config.connections.headersTimeoutMs > config.connections.requestTimeoutMs) {
    throw new ConfigError("--http-headers-timeout-ms must not exceed --http-request-timeout-ms");
  }
  if ((config.tlsCert === undefined) !== (config.tlsKey === undefined)) {
    throw new ConfigError("--tls-cert and --tls-key go together: give both, or neither for plaintext");
  }
  if (config.tlsClientCa && !config.tlsCert) throw new ConfigError("--tls-client-ca needs --tls-cert and --tls-key");
  const grpcAt = parseHostPort(config.grpcListen);
  const httpAt = parseHostPort(config.httpListen);
  if (grpcAt.port !== 0 && grpcAt.port === httpAt.port && (grpcAt.host === httpAt.host || isWildcard(grpcAt.host) || isWildcard(httpAt.host))) {
    throw new ConfigError(`--grpc-listen ${config.grpcListen} and --http-listen ${config.httpListen} overlap: give each listener its own port`);
  }
  if (!config.authFile && !config.insecure) {
    for (const [flag, listen] of [
      ["--grpc-listen", config.grpcListen],
      ["--http-listen", config.httpListen],
    ] as const) {
      if (!isLoopback(listen)) {
        throw new ConfigError(
          `refusing to serve without authentication on ${flag} ${listen}: it is not a loopback address. ` +
            `Give --auth-file (see README, Security), listen on 127.0.0.1, or pass --insecure.`,
        );
      }
    }
  }
  return Object.freeze(config);
}

function isWildcard(host: string): boolean {
  return host === "0.0.0.0" || host === "::";
}

/** True when a listen address ("host:port") is on 127.0.0.0/8, ::1 or localhost. */
export function isLoopback(listen: string): boolean {
  return isLoopbackHost(parseHostPort(listen).host);
}
