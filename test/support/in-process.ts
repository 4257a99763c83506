import { AssertionError } from "node:assert";
import { type Client, Code, ConnectError, createClient, createRouterTransport, type Interceptor } from "@connectrpc/connect";
import { createTaskManager, type TaskManager } from "../../src/domain/task-manager.js";
import { NODE_TIMERS, type TaskStore, type Timers } from "../../src/domain/ports.js";
import { createCommitPipeline } from "../../src/events/commit-pipeline.js";
import { createEventHub } from "../../src/events/hub.js";
import { createWatchSource } from "../../src/events/watch.js";
import { type Principal, principalKey } from "../../src/service/principal.js";
import { createTaskControlService } from "../../src/service/task-control-service.js";
import { type OpenDatabase, openDatabase } from "../../src/store/orm.js";
import { createSqlTaskStore, type SqlTaskStore } from "../../src/store/sql-task-store.js";
import { BadRequestSchema, ErrorInfoSchema, RetryInfoSchema } from "../../gen/google/rpc/error_details_pb.js";
import { TaskControlService } from "../../gen/taskcontrol/v1/task_control_service_pb.js";

/** A client of the in-process service. */
export type ServiceClient = Client<typeof TaskControlService>;

/** The service without listeners: store, hub, manager and ServiceImpl, wired as src/app.ts does. */
export interface InProcessService {
  readonly db: OpenDatabase;
  readonly store: SqlTaskStore;
  readonly manager: TaskManager;
  /** A client calling as the anonymous admin (what auth off gives every caller). */
  readonly client: ServiceClient;
  /** A client whose calls carry `principal` (as the listeners' authentication would set it). */
  as(principal: Principal): ServiceClient;
  /** Unexpected errors the service logged (they reach callers as INTERNAL). */
  readonly unexpected: unknown[];
  close(): Promise<void>;
}

/**
 * Starts TaskControlService in process: SQLite in memory (the store keeps one pooled
 * connection, so the whole run sees one database), connect's router transport instead of
 * a listener. The clock of the store and the manager and the manager's timers are injected;
 * by default they read Date.now and setTimeout at each call, so
 * `mock.timers.enable({ apis: ["setTimeout", "Date"] })` moves confirmation expiry, and the
 * hub's idle timers move bookmarks; the store's batch writer yields with setImmediate and
 * keeps running on real time.
 */
export async function startInProcess(
  options: {
    bookmarkMs?: number;
    /** The store's and the manager's clock. @default () => Date.now() */
    clock?: () => number;
    /** The manager's expiry timers. @default node's, looked up at each call */
    timers?: Timers;
    /** Puts a wrapper between the store and the manager (to count or fail its calls). */
    wrapStore?: (store: SqlTaskStore) => TaskStore;
    /** The manager's --stall-fail-after-ms. @default 0 (never) */
    stallFailAfterMs?: number;
  } = {},
): Promise<InProcessService> {
  const db = await openDatabase({ db: ":memory:", durability: "normal" });
  const clock = options.clock ?? (() => Date.now());
  const store = createSqlTaskStore(db, { clock });
  await store.open();
  const hub = createEventHub();
  const seen = options.wrapStore?.(store) ?? store;
  const manager = createTaskManager({
    store: seen,
    live: hub,
    watch: createWatchSource({ hub, store: seen }),
    clock,
    timers: options.timers ?? NODE_TIMERS,
    stallFailAfterMs: options.stallFailAfterMs ?? 0,
  });
  // As src/app.ts: the store's one commit listener is the pipeline (manager, then hub).
  store.onCommit(createCommitPipeline({ manager, hub }));
  const shutdown = new AbortController();
  const unexpected: unknown[] = [];
  const impl = createTaskControlService({
    manager,
    shutdown: shutdown.signal,
    bookmarkMs: options.bookmarkMs ?? 15_000,
    logError: (err) => unexpected.push(err),
  });
  manager.open();

  const as = (principal: Principal | undefined): ServiceClient => {
    const setPrincipal: Interceptor = (next) => (req) => {
      if (principal) req.contextValues.set(principalKey, principal);
      return next(req);
    };
    const transport = createRouterTransport((router) => router.service(TaskControlService, impl), {
      router: { interceptors: [setPrincipal], shutdownSignal: shutdown.signal },
    });
    return createClient(TaskControlService, transport);
  };

  let closing: Promise<void> | undefined;
  return {
    db,
    store,
    manager,
    client: as(undefined),
    as,
    unexpected,
    close() {
      closing ??= (async () => {
        shutdown.abort();
        manager.drain();
        await store.flush();
        manager.close();
        await db.close();
      })();
      return closing;
    },
  };
}

/** What a program reads off a failed call: the code and the google.rpc details. */
export interface ReadableError {
  code: Code;
  reason: string;
  domain: string;
  metadata: Record<string, string>;
  /** BadRequest field paths. */
  fields: string[];
  /** Whether a RetryInfo came with it. */
  retry: boolean;
}

/** Runs `call` and returns its error's details (fails if it succeeds). */
export async function errorOf(call: Promise<unknown> | (() => Promise<unknown>)): Promise<ReadableError> {
  try {
    await (typeof call === "function" ? call() : call);
  } catch (err) {
    return readError(ConnectError.from(err));
  }
  throw new AssertionError({ message: "the call succeeded; an error was expected" });
}

/** The code and google.rpc details of a failed call, as any connect client reads them. */
export function readError(ce: ConnectError): ReadableError {
  const [info] = ce.findDetails(ErrorInfoSchema);
  return {
    code: ce.code,
    reason: info?.reason ?? "",
    domain: info?.domain ?? "",
    metadata: { ...info?.metadata },
    fields: ce.findDetails(BadRequestSchema).flatMap((b) => b.fieldViolations.map((v) => v.field)),
    retry: ce.findDetails(RetryInfoSchema).length > 0,
  };
}

/**
 * Collects a server stream's messages as they come. Waiting is driven by the messages
 * themselves, never by a timer, so it works under mock timers too.
 */
export function collect<T>(open: (signal: AbortSignal) => AsyncIterable<T>) {
  const ac = new AbortController();
  const messages: T[] = [];
  let error: unknown;
  let ended = false;
  const waiters = new Set<() => void>();
  const wake = () => {
    for (const w of waiters) w();
  };
  const done = (async () => {
    try {
      for await (const m of open(ac.signal)) {
        messages.push(m);
        wake();
      }
    } catch (err) {
      error = err;
    } finally {
      ended = true;
      wake();
    }
  })();
  return {
    messages,
    /** Settles when the stream ended: with its error, if any (a cancel() of ours is not one). */
    async ended(): Promise<unknown> {
      await done;
      return ac.signal.aborted ? undefined : error;
    },
    /** Resolves with the messages once `pred` holds; rejects if the stream ends before. */
    until(pred: (messages: T[]) => boolean): Promise<T[]> {
      return new Promise((resolve, reject) => {
        const test = () => {
          if (pred(messages)) {
            waiters.delete(test);
            resolve(messages);
          } else if (ended) {
            waiters.delete(test);
            reject(error ?? new Error(`stream ended before the condition held; got ${messages.length} messages`));
          }
        };
        waiters.add(test);
        test();
      });
    },
    /** Cancels the call and waits for it to end. */
    async cancel(): Promise<void> {
      ac.abort();
      await done;
    },
  };
}
