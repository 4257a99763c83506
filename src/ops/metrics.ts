import { Code } from "@connectrpc/connect";
import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from "prom-client";
import type { HttpRoute } from "../transport/http/server.js";

/** Which listener served a call (a label on every call metric). */
export type Transport = "grpc" | "http";

/** What the metrics read from the running service at scrape time. */
export interface MetricSources {
  /** PENDING confirmations in the store. */
  pendingConfirmations(): number;
  /** RequestConfirmation calls held open on this replica. */
  heldConfirmations(): number;
  /** Rows in the event log (a query; runs once per scrape). */
  eventCount(): Promise<number>;
  /** Open WatchTasks subscriptions. */
  watchers(): number;
  /** What this replica's leases did so far (monotonic counts). */
  leases(): { expired: number; recovered: number; claims: number; stallsFailed: number };
  /** Registers a listener told the size of each committed write batch. */
  onBatch(listener: (size: number) => void): void;
}

/** The service's Prometheus metrics; one registry per app, so tests can run several. */
export interface Metrics {
  readonly registry: Registry;
  /** Counts a finished call; unary and client-stream calls also feed the latency histogram. */
  callEnded(transport: Transport, method: string, code: Code | 0, ms: number, serverStreams: boolean): void;
  /** Open streams gauge, by transport and method. */
  streamOpened(transport: Transport, method: string): void;
  /** The counterpart of streamOpened. */
  streamClosed(transport: Transport, method: string): void;
  /** Counts auth-file reloads by outcome, so a rejected file shows on a dashboard. */
  authReloaded(ok: boolean): void;
  /** GET /metrics in the Prometheus text format. */
  readonly route: HttpRoute;
}

/** gRPC status names, as dashboards and grpcurl print them. */
const CODE_NAMES: readonly string[] = [
  "OK",
  "CANCELLED",
  "UNKNOWN",
  "INVALID_ARGUMENT",
  "DEADLINE_EXCEEDED",
  "NOT_FOUND",
  "ALREADY_EXISTS",
  "PERMISSION_DENIED",
  "RESOURCE_EXHAUSTED",
  "FAILED_PRECONDITION",
  "ABORTED",
  "OUT_OF_RANGE",
  "UNIMPLEMENTED",
  "INTERNAL",
  "UNAVAILABLE",
  "DATA_LOSS",
  "UNAUTHENTICATED",
];

/** The gRPC name of a status code ("OK", "NOT_FOUND", …). */
export function codeName(code: Code | 0): string {
  return CODE_NAMES[code] ?? String(code);
}

/** A call counter's cell: its labels and the calls counted since the last scrape. */
interface CallCell {
  readonly labels: { transport: Transport; method: string; code: string };
  pending: number;
}

/** The cells of one method on one listener: calls by code, and its latency. */
interface TransportCells {
  readonly transport: Transport;
  readonly method: string;
  readonly codes: (CallCell | undefined)[];
  latency: LatencyCell | undefined;
}

/** One label set's histogram: counts per bucket (not cumulative; the last is +Inf), sum, count. */
interface LatencyCell {
  readonly labels: Readonly<Record<string, string>>;
  readonly buckets: Float64Array;
  sum: number;
  count: number;
}

/**
 * A Prometheus histogram whose label sets are cells the caller holds, so an observation is
 * a bucket search and three additions. Exposed through the registry's metric contract
 * (name, help, type, get), in the shape and order prom-client's Histogram gives: for each
 * label set its cumulative `_bucket` lines (`le` first), `+Inf`, `_sum`, `_count`.
 */
class LatencyHistogram {
  readonly type = "histogram";
  readonly aggregator = "sum";
  private readonly bucketName: string;

  constructor(
    readonly name: string,
    readonly help: string,
    private readonly upperBounds: readonly number[],
    private readonly cells: () => readonly LatencyCell[],
  ) {
    this.bucketName = `${name}_bucket`;
  }

  cell(labels: Readonly<Record<string, string>>): LatencyCell {
    return { labels, buckets: new Float64Array(this.upperBounds.length + 1), sum: 0, count: 0 };
  }

  observe(cell: LatencyCell, value: number): void {
    const bounds = this.upperBounds;
    let i = 0;
    while (i < bounds.length && value > bounds[i]!) i++;
    cell.buckets[i]!++;
    cell.sum += value;
    cell.count++;
  }

  get(): Promise<{ name: string; help: string; type: string; aggregator: string; values: object[] }> {
    const values: object[] = [];
    for (const c of this.cells()) {
      let acc = 0;
      this.upperBounds.forEach((le, i) => {
        acc += c.buckets[i]!;
        values.push({ labels: { le, ...c.labels }, value: acc, metricName: this.bucketName, exemplar: null });
      });
      values.push({ labels: { le: "+Inf", ...c.labels }, value: c.count, metricName: this.bucketName, exemplar: null });
      values.push({ labels: { ...c.labels }, value: c.sum, metricName: `${this.name}_sum` });
      values.push({ labels: { ...c.labels }, value: c.count, metricName: `${this.name}_count` });
    }
    return Promise.resolve({ name: this.name, help: this.help, type: this.type, aggregator: this.aggregator, values });
  }

  reset(): void {
    for (const c of this.cells()) {
      c.buckets.fill(0);
      c.sum = 0;
      c.count = 0;
    }
  }
}

/** Builds the registry with the process defaults and the service's own metrics. */
export function createMetrics(sources: MetricSources): Metrics {
  const registry = new Registry();
  collectDefaultMetrics({ register: registry });
  const registers = [registry];
  // A call's counter and histogram cells are looked up by method name and code, and updated
  // with a few additions; prom-client sees the totals at scrape time. Its own inc/observe
  // with a labels object hashed every label into a string key and looked it up in a
  // dictionary, per call (profiled: about as much CPU as the whole EmitProgress handler).
  const cells = new Map<string, Record<Transport, TransportCells | undefined>>();
  const cellsOf = (transport: Transport, method: string): TransportCells => {
    let byTransport = cells.get(method);
    if (!byTransport) cells.set(method, (byTransport = { grpc: undefined, http: undefined }));
    return (byTransport[transport] ??= { transport, method, codes: [], latency: undefined });
  };
  new Counter({
    name: "taskcontrol_rpc_calls_total",
    help: "Finished RPCs by listener, method and status code.",
    labelNames: ["transport", "method", "code"] as const,
    registers,
    collect() {
      for (const byTransport of cells.values()) {
        for (const c of [byTransport.grpc, byTransport.http]) {
          if (!c) continue;
          for (const cell of c.codes) {
            if (!cell || cell.pending === 0) continue;
            this.inc(cell.labels, cell.pending);
            cell.pending = 0;
          }
        }
      }
    },
  });
  const latency = new LatencyHistogram(
    "taskcontrol_rpc_duration_seconds",
    "Latency of unary and client-streaming RPCs (server streams are held open by design and excluded).",
    [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    () => {
      const out: LatencyCell[] = [];
      for (const byTransport of cells.values()) {
        if (byTransport.grpc?.latency) out.push(byTransport.grpc.latency);
        if (byTransport.http?.latency) out.push(byTransport.http.latency);
      }
      return out;
    },
  );
  registry.registerMetric(latency as unknown as Histogram);
  const streams = new Gauge({
    name: "taskcontrol_open_streams",
    help: "Streams open now (watches, held confirmations, progress streams).",
    labelNames: ["transport", "method"] as const,
    registers,
  });
  new Gauge({
    name: "taskcontrol_pending_confirmations",
    help: "Confirmations waiting for an answer.",
    registers,
    collect() {
      this.set(sources.pendingConfirmations());
    },
  });
  new Gauge({
    name: "taskcontrol_held_confirmation_calls",
    help: "RequestConfirmation calls held open on this replica.",
    registers,
    collect() {
      this.set(sources.heldConfirmations());
    },
  });
  new Gauge({
    name: "taskcontrol_watchers",
    help: "Open WatchTasks subscriptions.",
    registers,
    collect() {
      this.set(sources.watchers());
    },
  });
  new Gauge({
    name: "taskcontrol_event_log_events",
    help: "Events retained in the event log (the replay window of WatchTasks).",
    registers,
    async collect() {
      this.set(await sources.eventCount());
    },
  });
  const leaseCounter = (name: string, help: string, read: (c: ReturnType<MetricSources["leases"]>) => number) =>
    new Counter({
      name,
      help,
      registers,
      collect() {
        // The counts live in the task manager; the counter shows them as they are now.
        this.reset();
        this.inc(read(sources.leases()));
      },
    });
  leaseCounter("taskcontrol_leases_expired_total", "Leases that lapsed on this replica: the task went STALLED.", (c) => c.expired);
  leaseCounter("taskcontrol_stalls_recovered_total", "STALLED tasks that a call of their current attempt made RUNNING again.", (c) => c.recovered);
  leaseCounter("taskcontrol_claims_total", "ClaimTask calls that made a new attempt.", (c) => c.claims);
  leaseCounter("taskcontrol_stalls_failed_total", "STALLED tasks failed by --stall-fail-after-ms.", (c) => c.stallsFailed);
  const batches = new Histogram({
    name: "taskcontrol_store_batch_size",
    help: "Mutations committed per write batch (group commit).",
    buckets: [1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024],
    registers,
  });
  sources.onBatch((size) => batches.observe(size));
  const reloads = new Counter({
    name: "taskcontrol_auth_reloads_total",
    help: "Auth file reloads (SIGHUP) by result; a failed reload keeps the previous principals.",
    labelNames: ["result"] as const,
    registers,
  });

  return {
    registry,
    callEnded(transport, method, code, ms, serverStreams) {
      const c = cellsOf(transport, method);
      const cell = (c.codes[code] ??= { labels: { transport, method, code: codeName(code) }, pending: 0 });
      cell.pending++;
      if (!serverStreams) latency.observe((c.latency ??= latency.cell({ transport, method })), ms / 1000);
    },
    streamOpened: (transport, method) => streams.inc({ transport, method }),
    streamClosed: (transport, method) => streams.dec({ transport, method }),
    authReloaded: (ok) => reloads.inc({ result: ok ? "ok" : "rejected" }),
    async route(req, res) {
      if ((req.url ?? "").split("?")[0] !== "/metrics") return false;
      const body = await registry.metrics();
      res.statusCode = 200;
      res.setHeader("content-type", registry.contentType);
      (res as { end(b: string): void }).end(req.method === "HEAD" ? "" : body);
      return true;
    },
  };
}
