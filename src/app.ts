import { existsSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { createContextValues } from "@connectrpc/connect";
import type { Config } from "./config.js";
import { createTaskManager } from "./domain/task-manager.js";
import { createEventHub } from "./events/hub.js";
import { createLogger, type Logger } from "./log.js";
import { createTaskControlService } from "./service/task-control-service.js";
import { ANONYMOUS, principalKey } from "./service/principal.js";
import { openDatabase } from "./store/orm.js";
import { createSqlTaskStore } from "./store/sql-task-store.js";
import { startGrpcServer } from "./transport/grpc/server.js";
import { startHttpServer } from "./transport/http/server.js";
import { TaskControlService } from "../gen/taskcontrol/v1/task_control_service_pb.js";

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
}

/** web/dist of the package, whether this runs from src/ (tsx) or dist/src/ (compiled). */
const DEFAULT_WEB_DIR = fileURLToPath(
  new URL(import.meta.url.includes("/dist/src/") ? "../../web/dist" : "../web/dist", import.meta.url),
);

/** The one composition root: builds store, hub, manager, service and both listeners. */
export async function createApp(config: Config, options: { log?: Logger } = {}): Promise<App> {
  const log = options.log ?? createLogger(config.logLevel);
  const db = await openDatabase({ db: config.db, durability: config.durability });
  const store = createSqlTaskStore(db, { onError: (err) => log.error({ err }, "batch commit failed") });
  await store.open();
  const hub = createEventHub({ maxQueue: config.watchQueue });
  const manager = createTaskManager({ store, live: hub });
  store.onCommit((events) => hub.publish(events));
  hub.onPublish((events) => manager.onEvents(events));

  const shutdown = new AbortController();
  const impl = createTaskControlService({
    manager,
    hub,
    store,
    shutdown: shutdown.signal,
    bookmarkMs: config.bookmarkMs,
    logError: (err, method) => log.error({ err, method }, "unexpected error"),
  });
  const contextValues = () => createContextValues().set(principalKey, ANONYMOUS);
  const grpc = await startGrpcServer({
    listen: config.grpcListen,
    service: TaskControlService,
    impl,
    hooks: { contextValues, shutdownSignal: shutdown.signal },
  });
  const webDir = config.webDir ?? DEFAULT_WEB_DIR;
  const http = await startHttpServer({
    listen: config.httpListen,
    service: TaskControlService,
    impl,
    contextValues,
    shutdownSignal: shutdown.signal,
    staticDir: existsSync(webDir) ? webDir : undefined,
    routes: [
      (req, res) => {
        const path = (req.url ?? "").split("?")[0];
        if (path !== "/healthz" && path !== "/readyz") return false;
        const ok = path === "/healthz" || manager.state === "open";
        res.statusCode = ok ? 200 : 503;
        res.setHeader("content-type", "text/plain; charset=utf-8");
        (res as { end(b: string): void }).end(ok ? "ok\n" : `${manager.state}\n`);
        return true;
      },
    ],
  });
  manager.open();

  const retention = setInterval(() => {
    store
      .trimEvents({ maxEvents: config.retainEvents, maxAgeMs: config.retainAgeMs })
      .then((n) => n > 0 && log.info({ deleted: n }, "event log trimmed"))
      .catch((err) => log.error({ err }, "event log trim failed"));
  }, 60_000);
  retention.unref();

  let closing: Promise<void> | undefined;
  return {
    grpcAddress: grpc.address,
    httpAddress: http.address,
    log,
    close() {
      closing ??= (async () => {
        clearInterval(retention);
        shutdown.abort();
        await Promise.all([grpc.close(config.shutdownGraceMs), http.close(config.shutdownGraceMs)]);
        manager.drain();
        await store.flush();
        manager.close();
        await db.close();
      })();
      return closing;
    },
  };
}
