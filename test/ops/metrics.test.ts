import assert from "node:assert/strict";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { startTestApp, type TestApp } from "../support/app.js";
import { trackLeaks } from "../support/leaks.js";
import { authPath, bearer, eventually, type HttpClients, httpClients, invoke, OK_SURFACE, type Who, writeAuthFile } from "../security/helpers.js";

/** /metrics in the Prometheus text format, moving with the traffic that causes it. */

const leaks = trackLeaks();
let t: TestApp;
let http: HttpClients;
let tokens: Record<Who, string>;
let dir: string;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), "taskcontrol-metrics-"));
  tokens = writeAuthFile(authPath(dir));
  t = await startTestApp({ dir, args: ["--auth-file", authPath(dir)] });
  http = httpClients(t.app.httpAddress);
});
after(async () => {
  await t.close();
  await leaks.check();
});

/** One scrape, as name{labels} → value. */
async function scrape(): Promise<Map<string, number>> {
  const res = await fetch(`http://${t.app.httpAddress}/metrics`);
  assert.equal(res.status, 200);
  assert.match(res.headers.get("content-type") ?? "", /^text\/plain; version=0\.0\.4/);
  const out = new Map<string, number>();
  for (const line of (await res.text()).split("\n")) {
    if (line === "" || line.startsWith("#")) continue;
    const i = line.lastIndexOf(" ");
    out.set(line.slice(0, i), Number(line.slice(i + 1)));
  }
  return out;
}
const get = (m: Map<string, number>, key: string) => m.get(key) ?? 0;

describe("metrics", () => {
  it("count calls by listener, method and code, with latency histograms", async () => {
    const key = (transport: string, method: string, code: string) => `taskcontrol_rpc_calls_total{transport="${transport}",method="${method}",code="${code}"}`;
    const hist = `taskcontrol_rpc_duration_seconds_count{transport="grpc",method="CreateTask"}`;
    const before = await scrape();
    for (let i = 0; i < 3; i++) await invoke(t, http, "grpc", "CreateTask", { owner: "o", kind: "k" }, bearer(tokens.worker));
    await invoke(t, http, "http", "GetTask", { taskId: "t-missing" }, bearer(tokens.admin));
    await invoke(t, http, "http", "ListTasks", {}, bearer("wrong"));
    await invoke(t, http, "grpc", "CreateTask", { owner: "o" }, bearer(tokens.alice));
    const now = await scrape();
    assert.equal(get(now, key("grpc", "CreateTask", "OK")) - get(before, key("grpc", "CreateTask", "OK")), 3);
    assert.equal(get(now, key("http", "GetTask", "NOT_FOUND")) - get(before, key("http", "GetTask", "NOT_FOUND")), 1);
    assert.equal(get(now, key("http", "ListTasks", "UNAUTHENTICATED")) - get(before, key("http", "ListTasks", "UNAUTHENTICATED")), 1);
    assert.equal(get(now, key("grpc", "CreateTask", "PERMISSION_DENIED")) - get(before, key("grpc", "CreateTask", "PERMISSION_DENIED")), 1);
    assert.equal(get(now, hist) - get(before, hist), 4);
    assert.ok(get(now, `taskcontrol_rpc_duration_seconds_bucket{le="+Inf",transport="grpc",method="CreateTask"}`) >= 4);
  });

  it("gauge open streams, watchers, pending confirmations and held calls, and follow the event log and batches", async () => {
    const admin = bearer(tokens.admin);
    const before = await scrape();
    const watch = t.grpc.serverStream("WatchTasks", { includeSnapshot: true }, admin);
    watch.call.on("error", () => {});
    for await (const _ of watch.responses) break;
    const task: any = await t.grpc.unary("CreateTask", { owner: "o", kind: "k" }, admin);
    const held = t.grpc.serverStream("RequestConfirmation", { taskId: task.task.id, title: "?", components: OK_SURFACE }, admin);
    held.call.on("error", () => {});
    for await (const _ of held.responses) break;

    const during = await scrape();
    assert.equal(get(during, `taskcontrol_open_streams{transport="grpc",method="WatchTasks"}`), 1);
    assert.equal(get(during, `taskcontrol_open_streams{transport="grpc",method="RequestConfirmation"}`), 1);
    assert.equal(get(during, "taskcontrol_watchers") - get(before, "taskcontrol_watchers"), 1);
    assert.equal(get(during, "taskcontrol_pending_confirmations") - get(before, "taskcontrol_pending_confirmations"), 1);
    assert.equal(get(during, "taskcontrol_held_confirmation_calls"), 1);
    // Task created, confirmation requested, status changed: three events at least.
    assert.ok(get(during, "taskcontrol_event_log_events") >= get(before, "taskcontrol_event_log_events") + 3);
    assert.ok(get(during, "taskcontrol_store_batch_size_count") > get(before, "taskcontrol_store_batch_size_count"));

    watch.call.cancel();
    held.call.cancel();
    await eventually(async () => {
      const m = await scrape();
      return (
        get(m, `taskcontrol_open_streams{transport="grpc",method="WatchTasks"}`) === 0 &&
        get(m, "taskcontrol_held_confirmation_calls") === 0 &&
        get(m, "taskcontrol_watchers") === get(before, "taskcontrol_watchers")
      );
    }, 5000, "streams to close");
    // The confirmation itself stays pending: the wait is durable.
    assert.equal(get(await scrape(), "taskcontrol_pending_confirmations") - get(before, "taskcontrol_pending_confirmations"), 1);
  });

  it("count lease lapses, recovered stalls and claims", async () => {
    const before = await scrape();
    const created = await invoke(t, http, "grpc", "CreateTask", { owner: "o", leaseDuration: { seconds: 1n, nanos: 0 } }, bearer(tokens.worker));
    const taskId = (created.response as { task: { id: string } }).task.id;
    // No word for the 1 s lease: it lapses; a heartbeat recovers it; a claim makes attempt 2.
    await eventually(async () => get(await scrape(), "taskcontrol_leases_expired_total") - get(before, "taskcontrol_leases_expired_total") === 1, 5000, "the lapse");
    await invoke(t, http, "grpc", "Heartbeat", { taskId, attempt: 1n }, bearer(tokens.worker));
    await invoke(t, http, "grpc", "ClaimTask", { taskId }, bearer(tokens.worker));
    const now = await scrape();
    assert.equal(get(now, "taskcontrol_stalls_recovered_total") - get(before, "taskcontrol_stalls_recovered_total"), 1);
    assert.equal(get(now, "taskcontrol_claims_total") - get(before, "taskcontrol_claims_total"), 1);
    assert.equal(get(now, "taskcontrol_stalls_failed_total"), 0);
  });

  it("count auth-file reloads by result, and include the process defaults", async () => {
    assert.equal(await t.app.reload(), true);
    const m = await scrape();
    assert.equal(get(m, `taskcontrol_auth_reloads_total{result="ok"}`), 1);
    assert.ok(get(m, "process_resident_memory_bytes") > 0);
  });

  it("are kept per app instance, so two apps in one process do not mix their counts", async () => {
    const other = await startTestApp();
    try {
      const res = await fetch(`http://${other.app.httpAddress}/metrics`);
      const text = await res.text();
      assert.doesNotMatch(text, /taskcontrol_rpc_calls_total\{/, "a fresh app has counted no call");
    } finally {
      await other.close();
    }
  });
});
