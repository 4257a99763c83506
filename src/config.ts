import { isIP } from "node:net";
import { parseArgs } from "node:util";
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
  /** How often the log is trimmed to those bounds, in ms. @default 60000 */
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

const OPTIONS = {
  "grpc-listen": { type: "string", env: "TASKCONTROL_GRPC_LISTEN" },
  "http-listen": { type: "string", env: "TASKCONTROL_HTTP_LISTEN" },
  db: { type: "string", env: "TASKCONTROL_DB" },
  durability: { type: "string", env: "TASKCONTROL_DURABILITY" },
  "auth-file": { type: "string", env: "TASKCONTROL_AUTH_FILE" },
  "tls-cert": { type: "string", env: "TASKCONTROL_TLS_CERT" },
  "tls-key": { type: "string", env: "TASKCONTROL_TLS_KEY" },
  "tls-client-ca": { type: "string", env: "TASKCONTROL_TLS_CLIENT_CA" },
  insecure: { type: "boolean", env: "TASKCONTROL_INSECURE" },
  "log-level": { type: "string", env: "TASKCONTROL_LOG_LEVEL" },
  "bookmark-interval-ms": { type: "string", env: "TASKCONTROL_BOOKMARK_INTERVAL_MS" },
  "event-retention-count": { type: "string", env: "TASKCONTROL_EVENT_RETENTION_COUNT" },
  "event-retention-age-ms": { type: "string", env: "TASKCONTROL_EVENT_RETENTION_AGE_MS" },
  "event-retention-interval-ms": { type: "string", env: "TASKCONTROL_EVENT_RETENTION_INTERVAL_MS" },
  "watch-queue": { type: "string", env: "TASKCONTROL_WATCH_QUEUE" },
  "shutdown-grace-ms": { type: "string", env: "TASKCONTROL_SHUTDOWN_GRACE_MS" },
  "web-dir": { type: "string", env: "TASKCONTROL_WEB_DIR" },
  "max-streams-per-principal": { type: "string", env: "TASKCONTROL_MAX_STREAMS_PER_PRINCIPAL" },
  "pg-catch-up-ms": { type: "string", env: "TASKCONTROL_PG_CATCH_UP_MS" },
  "http-initial-timeout-ms": { type: "string", env: "TASKCONTROL_HTTP_INITIAL_TIMEOUT_MS" },
  "http-headers-timeout-ms": { type: "string", env: "TASKCONTROL_HTTP_HEADERS_TIMEOUT_MS" },
  "http-request-timeout-ms": { type: "string", env: "TASKCONTROL_HTTP_REQUEST_TIMEOUT_MS" },
  "http-keep-alive-timeout-ms": { type: "string", env: "TASKCONTROL_HTTP_KEEP_ALIVE_TIMEOUT_MS" },
  "http2-idle-timeout-ms": { type: "string", env: "TASKCONTROL_HTTP2_IDLE_TIMEOUT_MS" },
  "keepalive-interval-ms": { type: "string", env: "TASKCONTROL_KEEPALIVE_INTERVAL_MS" },
  "keepalive-timeout-ms": { type: "string", env: "TASKCONTROL_KEEPALIVE_TIMEOUT_MS" },
  "max-connections": { type: "string", env: "TASKCONTROL_MAX_CONNECTIONS" },
  "max-probe-streams": { type: "string", env: "TASKCONTROL_MAX_PROBE_STREAMS" },
  "max-probe-streams-per-address": { type: "string", env: "TASKCONTROL_MAX_PROBE_STREAMS_PER_ADDRESS" },
  "db-check-ms": { type: "string", env: "TASKCONTROL_DB_CHECK_MS" },
  "db-stall-ms": { type: "string", env: "TASKCONTROL_DB_STALL_MS" },
} as const;

/** The usage text printed by --help. */
export const USAGE = `usage: taskcontrol [options]
${Object.entries(OPTIONS)
  .map(([flag, o]) => `  --${flag}${o.type === "string" ? " VALUE" : ""}  (env ${o.env})`)
  .join("\n")}`;

/** Raised for bad configuration; main prints it and exits non-zero. */
export class ConfigError extends Error {}

/** Parses flags and environment (the only reader of process.env is main, through this). */
export function loadConfig(input: { argv: string[]; env: Record<string, string | undefined> }): Config {
  let values: Record<string, string | boolean | undefined>;
  try {
    values = parseArgs({
      args: input.argv,
      options: Object.fromEntries(Object.entries(OPTIONS).map(([k, o]) => [k, { type: o.type }])),
      strict: true,
      allowPositionals: false,
    }).values;
  } catch (err) {
    throw new ConfigError(`${(err as Error).message}\n${USAGE}`);
  }
  const get = (flag: keyof typeof OPTIONS): string | undefined => {
    const v = values[flag];
    if (typeof v === "string") return v;
    const e = input.env[OPTIONS[flag].env];
    return e === undefined || e === "" ? undefined : e;
  };
  const flagOn = (flag: keyof typeof OPTIONS): boolean =>
    values[flag] === true || /^(1|true|yes)$/i.test(input.env[OPTIONS[flag].env] ?? "");
  const int = (flag: keyof typeof OPTIONS, dflt: number, min: number): number => {
    const raw = get(flag);
    if (raw === undefined) return dflt;
    const n = Number(raw);
    if (!Number.isInteger(n) || n < min) throw new ConfigError(`--${flag} must be an integer ≥ ${min}, got "${raw}"`);
    return n;
  };
  const durability = get("durability") ?? "normal";
  if (durability !== "normal" && durability !== "full") throw new ConfigError(`--durability must be normal or full`);
  const config: Config = {
    grpcListen: get("grpc-listen") ?? "127.0.0.1:50051",
    httpListen: get("http-listen") ?? "127.0.0.1:8080",
    db: get("db") ?? "./data/taskcontrol.sqlite",
    durability,
    authFile: get("auth-file"),
    tlsCert: get("tls-cert"),
    tlsKey: get("tls-key"),
    tlsClientCa: get("tls-client-ca"),
    insecure: flagOn("insecure"),
    logLevel: get("log-level") ?? "info",
    bookmarkMs: int("bookmark-interval-ms", 15_000, 10),
    retainEvents: int("event-retention-count", 1_000_000, 1),
    retainAgeMs: int("event-retention-age-ms", 7 * 24 * 3600 * 1000, 1000),
    retentionIntervalMs: int("event-retention-interval-ms", 60_000, 10),
    watchQueue: int("watch-queue", 10_000, 1),
    shutdownGraceMs: int("shutdown-grace-ms", 10_000, 0),
    webDir: get("web-dir"),
    maxStreamsPerPrincipal: int("max-streams-per-principal", 1000, 1),
    pgCatchUpMs: int("pg-catch-up-ms", 1000, 10),
    connections: Object.freeze({
      initialTimeoutMs: int("http-initial-timeout-ms", 10_000, 10),
      headersTimeoutMs: int("http-headers-timeout-ms", 30_000, 10),
      requestTimeoutMs: int("http-request-timeout-ms", 300_000, 10),
      keepAliveTimeoutMs: int("http-keep-alive-timeout-ms", 5_000, 10),
      http2IdleTimeoutMs: int("http2-idle-timeout-ms", 300_000, 10),
      keepaliveIntervalMs: int("keepalive-interval-ms", 30_000, 10),
      keepaliveTimeoutMs: int("keepalive-timeout-ms", 10_000, 10),
      maxConnections: int("max-connections", 8_000, 1),
      maxProbeStreams: int("max-probe-streams", 1_000, 1),
      maxProbeStreamsPerAddress: int("max-probe-streams-per-address", 100, 1),
    }),
    dbCheckMs: int("db-check-ms", 500, 10),
    dbStallMs: int("db-stall-ms", 10_000, 100),
  };
  if (config.connections.headersTimeoutMs > config.connections.requestTimeoutMs) {
    throw new ConfigError("--http-headers-timeout-ms must not exceed --http-request-timeout-ms");
  }
  if ((config.tlsCert === undefined) !== (config.tlsKey === undefined)) {
    throw new ConfigError("--tls-cert and --tls-key go together");
  }
  if (config.tlsClientCa && !config.tlsCert) throw new ConfigError("--tls-client-ca needs --tls-cert and --tls-key");
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

/** True for 127.0.0.0/8, ::1 and localhost. */
export function isLoopback(listen: string): boolean {
  const host = listen.slice(0, listen.lastIndexOf(":")).replace(/^\[(.*)\]$/, "$1");
  if (host === "localhost") return true;
  if (isIP(host) === 4) return host.startsWith("127.");
  return host === "::1";
}
