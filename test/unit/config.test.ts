import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { ConfigError, loadConfig, SETTINGS, USAGE } from "../../src/config.js";

const SAFE = { argv: [] as string[], env: {} as Record<string, string | undefined> };

describe("the configuration table", () => {
  it("keeps every flag, environment variable and default the server had", () => {
    const before: [string, string, unknown][] = [
      ["grpc-listen", "TASKCONTROL_GRPC_LISTEN", "127.0.0.1:50051"],
      ["http-listen", "TASKCONTROL_HTTP_LISTEN", "127.0.0.1:8080"],
      ["db", "TASKCONTROL_DB", "./data/taskcontrol.sqlite"],
      ["durability", "TASKCONTROL_DURABILITY", "normal"],
      ["auth-file", "TASKCONTROL_AUTH_FILE", undefined],
      ["tls-cert", "TASKCONTROL_TLS_CERT", undefined],
      ["tls-key", "TASKCONTROL_TLS_KEY", undefined],
      ["tls-client-ca", "TASKCONTROL_TLS_CLIENT_CA", undefined],
      ["insecure", "TASKCONTROL_INSECURE", false],
      ["log-level", "TASKCONTROL_LOG_LEVEL", "info"],
      ["bookmark-interval-ms", "TASKCONTROL_BOOKMARK_INTERVAL_MS", 15_000],
      ["event-retention-count", "TASKCONTROL_EVENT_RETENTION_COUNT", 1_000_000],
      ["event-retention-age-ms", "TASKCONTROL_EVENT_RETENTION_AGE_MS", 604_800_000],
      ["retention-interval-ms", "TASKCONTROL_RETENTION_INTERVAL_MS", 60_000],
      ["task-retention-age-ms", "TASKCONTROL_TASK_RETENTION_AGE_MS", 30 * 24 * 3600 * 1000],
      ["watch-queue", "TASKCONTROL_WATCH_QUEUE", 10_000],
      ["shutdown-grace-ms", "TASKCONTROL_SHUTDOWN_GRACE_MS", 10_000],
      ["web-dir", "TASKCONTROL_WEB_DIR", undefined],
      ["max-streams-per-principal", "TASKCONTROL_MAX_STREAMS_PER_PRINCIPAL", 1000],
      ["pg-catch-up-ms", "TASKCONTROL_PG_CATCH_UP_MS", 1000],
      ["http-initial-timeout-ms", "TASKCONTROL_HTTP_INITIAL_TIMEOUT_MS", 10_000],
      ["http-headers-timeout-ms", "TASKCONTROL_HTTP_HEADERS_TIMEOUT_MS", 30_000],
      ["http-request-timeout-ms", "TASKCONTROL_HTTP_REQUEST_TIMEOUT_MS", 300_000],
      ["http-keep-alive-timeout-ms", "TASKCONTROL_HTTP_KEEP_ALIVE_TIMEOUT_MS", 5_000],
      ["http2-idle-timeout-ms", "TASKCONTROL_HTTP2_IDLE_TIMEOUT_MS", 300_000],
      ["keepalive-interval-ms", "TASKCONTROL_KEEPALIVE_INTERVAL_MS", 30_000],
      ["keepalive-timeout-ms", "TASKCONTROL_KEEPALIVE_TIMEOUT_MS", 10_000],
      ["max-connections", "TASKCONTROL_MAX_CONNECTIONS", 8_000],
      ["max-probe-streams", "TASKCONTROL_MAX_PROBE_STREAMS", 1_000],
      ["max-probe-streams-per-address", "TASKCONTROL_MAX_PROBE_STREAMS_PER_ADDRESS", 100],
    ];
    const table = SETTINGS as Record<string, { env: string; fallback: unknown }>;
    for (const [flag, env, fallback] of before) {
      assert.ok(table[flag], `--${flag} is gone`);
      assert.equal(table[flag]!.env, env, `--${flag}`);
      assert.equal(table[flag]!.fallback, fallback, `--${flag}`);
    }
  });

  it("every entry has a one-line description and parses its own default", () => {
    for (const [flag, s] of Object.entries(SETTINGS) as [string, { description: string; shown?: string; fallback: unknown; parse(r: string): unknown }][]) {
      assert.match(s.description, /^\S[^\n]{10,200}$/, `--${flag}`);
      if (s.fallback !== undefined && typeof s.fallback !== "boolean") assert.equal(s.parse(String(s.fallback)), s.fallback, `--${flag}`);
    }
  });

  it("reads each flag, its environment variable when the flag is absent, and its default otherwise", () => {
    assert.equal(loadConfig(SAFE).bookmarkMs, 15_000);
    assert.equal(loadConfig({ argv: [], env: { TASKCONTROL_BOOKMARK_INTERVAL_MS: "500" } }).bookmarkMs, 500);
    assert.equal(
      loadConfig({ argv: ["--bookmark-interval-ms", "700"], env: { TASKCONTROL_BOOKMARK_INTERVAL_MS: "500" } }).bookmarkMs,
      700,
    );
    assert.equal(loadConfig({ argv: [], env: { TASKCONTROL_BOOKMARK_INTERVAL_MS: "" } }).bookmarkMs, 15_000);
    assert.equal(loadConfig({ argv: [], env: { TASKCONTROL_INSECURE: "yes" } }).insecure, true);
    assert.equal(loadConfig({ argv: [], env: { TASKCONTROL_INSECURE: "0" } }).insecure, false);
    assert.equal(loadConfig({ argv: ["--insecure"], env: {} }).insecure, true);
    assert.equal(loadConfig({ argv: ["--log-level", "silent"], env: {} }).logLevel, "silent");
    assert.ok(Object.isFrozen(loadConfig(SAFE)) && Object.isFrozen(loadConfig(SAFE).connections));
  });

  it("reads the retention sweep's interval under its name and its older event-retention name", () => {
    assert.equal(loadConfig(SAFE).retentionIntervalMs, 60_000);
    assert.equal(loadConfig(SAFE).taskRetentionAgeMs, 2_592_000_000);
    assert.equal(loadConfig({ argv: ["--retention-interval-ms", "70"], env: {} }).retentionIntervalMs, 70);
    assert.equal(loadConfig({ argv: ["--event-retention-interval-ms", "80"], env: {} }).retentionIntervalMs, 80);
    assert.equal(loadConfig({ argv: [], env: { TASKCONTROL_EVENT_RETENTION_INTERVAL_MS: "90" } }).retentionIntervalMs, 90);
    assert.equal(loadConfig({ argv: [], env: { TASKCONTROL_RETENTION_INTERVAL_MS: "95" } }).retentionIntervalMs, 95);
    // The new name wins over the old; a flag over any environment variable.
    assert.equal(
      loadConfig({ argv: ["--event-retention-interval-ms", "80", "--retention-interval-ms", "70"], env: {} }).retentionIntervalMs,
      70,
    );
    assert.equal(
      loadConfig({ argv: ["--event-retention-interval-ms", "80"], env: { TASKCONTROL_RETENTION_INTERVAL_MS: "95" } }).retentionIntervalMs,
      80,
    );
    assert.throws(
      () => loadConfig({ argv: [], env: { TASKCONTROL_EVENT_RETENTION_INTERVAL_MS: "1" } }),
      /TASKCONTROL_EVENT_RETENTION_INTERVAL_MS="1" \(--event-retention-interval-ms\): must be an integer ≥ 10/,
    );
    assert.equal(loadConfig({ argv: ["--task-retention-age-ms", "0"], env: {} }).taskRetentionAgeMs, 0);
    assert.equal(loadConfig({ argv: [], env: { TASKCONTROL_TASK_RETENTION_AGE_MS: "5000" } }).taskRetentionAgeMs, 5000);
    assert.ok(USAGE.includes("--event-retention-interval-ms / TASKCONTROL_EVENT_RETENTION_INTERVAL_MS"));
  });

  it("accepts IPv6 and localhost listeners as loopback, and refuses others without auth", () => {
    const c = loadConfig({ argv: ["--grpc-listen", "[::1]:0", "--http-listen", "localhost:0"], env: {} });
    assert.equal(c.grpcListen, "[::1]:0");
    assert.throws(() => loadConfig({ argv: ["--grpc-listen", "0.0.0.0:0"], env: {} }), /not a loopback address/);
    assert.equal(loadConfig({ argv: ["--grpc-listen", "0.0.0.0:0", "--insecure"], env: {} }).grpcListen, "0.0.0.0:0");
  });

  for (const [args, env, message] of [
    [["--log-level", "verbose"], {}, /^--log-level "verbose": must be one of trace, debug, info, warn, error, fatal, silent/],
    [[], { TASKCONTROL_WATCH_QUEUE: "0" }, /^TASKCONTROL_WATCH_QUEUE="0" \(--watch-queue\): must be an integer ≥ 1/],
    [["--grpc-listen", "[::1]:65536"], {}, /^--grpc-listen "\[::1\]:65536": the port must be a number from 0 to 65535/],
    [["--keepalive-interval-ms", "2147483648"], {}, /≤ 2147483647/],
    [["--max-connections", "1.5"], {}, /integer/],
    [["--grpc-listen", "127.0.0.1:7000", "--http-listen", "0.0.0.0:7000", "--insecure"], {}, /overlap/],
  ] as [string[], Record<string, string>, RegExp][]) {
    it(`refuses ${[...args, ...Object.entries(env).map(([k, v]) => `${k}=${v}`)].join(" ")} with a ConfigError`, () => {
      assert.throws(() => loadConfig({ argv: args, env }), (err: unknown) => err instanceof ConfigError && message.test(err.message));
    });
  }

  it("--help text names every flag, its environment variable and its default", () => {
    for (const [flag, s] of Object.entries(SETTINGS) as [string, { env: string; shown?: string }][]) {
      assert.ok(USAGE.includes(`--${flag}`), flag);
      assert.ok(USAGE.includes(`env ${s.env}${s.shown !== undefined ? `; default ${s.shown}` : ""}`), flag);
    }
  });
});
