import { setMaxListeners } from "node:events";
import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import type { Config } from "./config.js";
import { createTaskManager } from "./domain/task-manager.js";
import { createCommitPipeline } from "./events/commit-pipeline.js";
import { createEventHub } from "./events/hub.js";
import { createWatchSource } from "./events/watch.js";
import { createLogger, type Logger } from "./log.js";
import { createHealth } from "./ops/health.js";
import { createMetrics } from "./ops/metrics.js";
import { addReflection } from "./ops/reflection.js";
import { createStreamCap } from "./ops/stream-cap.js";
import { loadAuthFile } from "./security/auth-file.js";
import { createAuthenticator } from "./security/authenticator.js";
import { createCallGuard } from "./security/call-guard.js";
import { loadTls } from "./security/tls.js";
import { startReplication } from "./replication/replication.js";
import { createTaskControlService } from "./service/task-control-service.js";
import { createDbGuard } from "./store/db-guard.js";
import { openDatabase } from "./store/orm.js";
import { createSqlTaskStore } from "./store/sql-task-store.js";
import { createCallHooks } from "./transport/calls.js";
import { startGrpcServer } from "./transport/grpc/server.js";
import { connectionCap, openFileLimit } from "./transport/http/connections.js";
import { startHttpServer } from "./transport/http/server.js";
import {
  file_taskcontrol_v1_task_control_service,
  TaskControlService,
} from "../gen/taskcontrol/v1/task_control_service_pb.js";

/** A running service. */
export interface App {
  /** host:port of the gRPC listener. */
  readonly grpcAddress: string;
  /** host:port of the HTTP listener. */
  readonly httpAddress: string;
  readonly log: Logger;
  /**
   * Graceful stop: ends streams with UNAVAILABLE (held confirmations stay PENDING), lets
   * in-flight unary calls finish, flushes pending writes, closes the store.
   */
  close(): Promise<void>;
  /**
   * Re-reads the auth file (main calls it on SIGHUP). An invalid file is logged and the
   * principals in force stay; resolves true when the new file took effect.
   */
  reload(): Promise<boolean>;
  /**
   * Told once when the service cannot go on (the database file was deleted or replaced under
   * it): writes are already refused and health says NOT_SERVING; main closes and exits.
   */
  onFatal(listener: (reason: string) => void): void;
}

/** web/dist of the package, whether this runs from src/ (tsx) or dist/src/ (compiled). */
const DEFAULT_WEB_DIR = fileURLToPath(
  new URL(import.meta.url.includes("/dist/src/") ? "../../web/dist" : "../web/dist", import.meta.url),
);

/** The configured connection limits, the cap lowered (and logged) to fit the descriptor limit. */
function connectionLimits(config: Config, log: Logger): Config["connections"] {
  const fdLimit = openFileLimit();
  const { cap, lowered } = connectionCap(config.connections.maxConnections, fdLimit);
  if (lowered) log.warn({ wanted: config.connections.maxConnections, cap, fdLimit }, "--max-connections lowered to fit the open file limit");
  return { ...config.connections, maxConnections: cap };
}

/** The one composition root: builds store, hub, manager, service and both listeners. */
export async function createApp(config: Config, options: { log?: Logger } = {}): Promise<App> {
  const log = options.log ?? createLogger(config.logLevel);
  // Security material first: a bad auth file or certificate stops startup before the store opens.
  const authenticator = createAuthenticator(config.authFile ? await loadAuthFile(config.authFile) : undefined);
  const tls = await loadTls(config);
  const db = await openDatabase({ db: config.db, durability: config.durability });
  // Several replicas share a PostgreSQL: their commits reach each other through LISTEN/NOTIFY.
  const replication =
    db.dialect === "postgresql"
      ? await startReplication({ db, url: config.db, log, catchUpMs: config.pgCatchUpMs }).catch(async (err: unknown) => {
          await db.close();
          throw err;
        })
      : null;
  const dbGuard = createDbGuard({ db: config.db, dialect: db.dialect, knex: db.knex, writer: db.writer, checkMs: config.dbCheckMs, stallMs: config.dbStallMs });
  const store = dbGuard.guard(
    createSqlTaskStore(db, {
      onError: (err) => {
        log.error({ err }, "batch commit failed");
        dbGuard.commitFailed(err);
      },
      verifyCommit: dbGuard.verifyCommit,
      ...replication?.storeOptions,
    }),
  );
  store.onBatch(() => dbGuard.commitSucceeded());
  await store.open();
  const hub = createEventHub({ maxQueue: config.watchQueue });
  const manager = createTaskManager({
    store,
    live: replication?.live(hub) ?? hub,
    watch: createWatchSource({ hub, store }),
    onError: (err, { confirmationId }) => log.error({ err, confirmationId }, "confirmation expiry failed; it stays pending until the next start"),
    stallFailAfterMs: config.stallFailAfterMs,
    onLeaseError: (err, taskId) => log.error({ err, taskId }, "lease check failed; the next timer or start-up tries again"),
    // Who decided what, for audit; the values may hold anything a form asked for: never logged.
    onAnswer: (c) => log.info({ confirmationId: c.id, principal: c.answeredBy, action: c.action }, "confirmation answered"),
  });
  // After a commit: the manager, then the watchers, then live lines of other replicas.
  store.onCommit(createCommitPipeline({ manager, hub, relay: replication ?? undefined }));
  replication?.start(store);

  const shutdown = new AbortController();
  // Every in-flight call on either listener links its context to this signal: not a leak.
  setMaxListeners(0, shutdown.signal);
  const impl = createTaskControlService({
    manager,
    shutdown: shutdown.signal,
    bookmarkMs: config.bookmarkMs,
    logError: (err, method) => log.error({ err, method }, "unexpected error"),
    logDisconnect: (err, method) => log.debug({ reason: (err as Error).message, method }, "client went away"),
  });
  // Health.Watch and reflection need no token: one budget of open streams bounds them both.
  const probeStreams = createStreamCap({
    total: config.connections.maxProbeStreams,
    perAddress: config.connections.maxProbeStreamsPerAddress,
  });
  const health = createHealth({
    services: [TaskControlService.typeName],
    ready: () => manager.state() === "open",
    watchCap: probeStreams,
  });
  const metrics = createMetrics({
    pendingConfirmations: () => store.pendingConfirmations().length,
    heldConfirmations: () => manager.heldConfirmations(),
    eventCount: () => store.eventCount(),
    watchers: () => hub.subscriberCount(),
    leases: () => manager.leaseCounts(),
    onBatch: (listener) => store.onBatch(listener),
  });
  const connections = connectionLimits(config, log);
  const guard = createCallGuard({ authenticator, maxStreamsPerPrincipal: config.maxStreamsPerPrincipal });
  const calls = createCallHooks({ guard, metrics, log });
  const grpc = await startGrpcServer({
    listen: config.grpcListen,
    service: TaskControlService,
    impl,
    hooks: { ...calls.grpc, shutdownSignal: shutdown.signal },
    credentials: tls?.grpc,
    connections,
    extra: (server) => {
      health.addToServer(server);
      addReflection(server, [file_taskcontrol_v1_task_control_service], probeStreams);
    },
  });
  const webDir = config.webDir ?? DEFAULT_WEB_DIR;
  const http = await startHttpServer({
    listen: config.httpListen,
    service: TaskControlService,
    impl,
    contextValues: calls.httpContextValues,
    interceptors: [calls.httpInterceptor],
    tls: tls?.http,
    shutdownSignal: shutdown.signal,
    staticDir: existsSync(webDir) ? webDir : undefined,
    routes: [health.route, metrics.route],
    connections,
  });
  manager.open();
  health.setServing(true);
  dbGuard.onProblem((problem) => {
    health.setProblem(problem);
    if (problem) log.error({ db: config.db, problem }, "database cannot commit: not ready");
    else log.info({ db: config.db }, "database commits again: ready");
  });
  health.setProblem(dbGuard.problem);
  const fatal: ((reason: string) => void)[] = [];
  dbGuard.onLost((reason) => {
    log.error({ db: config.db, reason }, "database cannot be written safely any more: stopping");
    for (const l of fatal) l(reason);
  });

  // One retention sweep per --retention-interval-ms: the event log, then old finished tasks
  // (in batches, so writes commit between them). A sweep still running skips the next tick.
  const sweepStop = new AbortController();
  let sweeping: Promise<void> | undefined;
  const sweep = async (): Promise<void> => {
    await store
      .trimEvents({ maxEvents: config.retainEvents, maxAgeMs: config.retainAgeMs })
      .then((n) => n > 0 && log.info({ deleted: n }, "event log trimmed"))
      .catch((err) => log.error({ err }, "event log trim failed"));
    if (config.taskRetentionAgeMs === 0 || sweepStop.signal.aborted) return;
    const started = Date.now();
    await store
      .purgeFinishedTasks({ maxAgeMs: config.taskRetentionAgeMs, signal: sweepStop.signal })
      .then((n) => n > 0 && log.info({ deleted: n, ms: Date.now() - started }, "finished tasks purged"))
      .catch((err) => log.error({ err }, "finished task purge failed"));
  };
  const retention = setInterval(() => {
    sweeping ??= sweep().finally(() => {
      sweeping = undefined;
    });
  }, config.retentionIntervalMs);
  retention.unref();

  let closing: Promise<void> | undefined;
  return {
    grpcAddress: grpc.address,
    httpAddress: http.address,
    log,
    close() {
      closing ??= (async () => {
        clearInterval(retention);
        sweepStop.abort();
        await sweeping;
        dbGuard.close();
        health.drain();
        shutdown.abort();
        await Promise.all([grpc.close(config.shutdownGraceMs), http.close(config.shutdownGraceMs)]);
        manager.drain();
        await store.flush();
        await replication?.close();
        manager.close();
        await db.close();
      })();
      return closing;
    },
    onFatal(listener) {
      fatal.push(listener);
    },
    async reload() {
      if (!config.authFile) {
        log.info("reload: no auth file configured; nothing to do");
        return false;
      }
      try {
        const entries = await loadAuthFile(config.authFile);
        authenticator.replace(entries);
        metrics.authReloaded(true);
        log.info({ principals: entries.length }, "auth file reloaded");
        return true;
      } catch (err) {
        metrics.authReloaded(false);
        log.error({ reason: (err as Error).message }, "auth file rejected; the previous principals stay in force");
        return false;
      }
    },
  };
}
