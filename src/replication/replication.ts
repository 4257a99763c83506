import { randomBytes } from "node:crypto";
import { hostname } from "node:os";
import type { SequencedEvent } from "../domain/model.js";
import type { EventSink } from "../domain/ports.js";
import type { OpenDatabase } from "../store/orm.js";
import { createPgFeed, type PgFeed } from "../store/pg-feed.js";
import { checkNotifyRoundTrip, type PgListener, type PgListenerLog, startPgListener } from "../store/pg-listener.js";
import type { SqlTaskStore, SqlTaskStoreOptions } from "../store/sql-task-store.js";
import { createLiveRelay, type LiveRelay } from "./live-relay.js";

/** NOTIFY channels. They are per database in PostgreSQL, so deployments sharing a server do not mix. */
export const CHANNELS = Object.freeze({
  /** Payload: "<highest sequence a transaction committed> <replica id>". */
  commits: "taskcontrol_commits",
  /** Payload: coalesced live lines (see live-relay.ts). */
  live: "taskcontrol_live",
  /** Payload: a startup self-test nonce. */
  selfTest: "taskcontrol_selftest",
});

/** The prefix of the listener's application_name in pg_stat_activity. */
export const LISTENER_APPLICATION_NAME = "taskcontrol-listener";

/** Log calls replication makes (a pino logger fits). */
export interface ReplicationLog extends PgListenerLog {
  error(obj: object, msg: string): void;
}

/** Options of startReplication. */
export interface ReplicationOptions {
  /** The opened PostgreSQL database (its pool sends the self-test NOTIFY, as commits do). */
  db: OpenDatabase;
  /** Its URL, for the dedicated listening connection. */
  url: string;
  log: ReplicationLog;
  /** Backstop read of the log, in ms. @default 1000 */
  catchUpMs?: number;
  /** How long the startup NOTIFY round trip may take, in ms. @default 5000 */
  selfTestTimeoutMs?: number;
}

/** Several replicas on one PostgreSQL: this replica's part. */
export interface Replication {
  /** Shown in logs and in the listener's application_name. */
  readonly replicaId: string;
  /** What createSqlTaskStore needs: feed publication, NOTIFY on commit. */
  readonly storeOptions: Pick<SqlTaskStoreOptions, "publication" | "commitNotify">;
  /** The task manager's live sink: this replica's hub, and the other replicas through NOTIFY. */
  live(hub: EventSink): EventSink;
  /**
   * The commit pipeline's last stage: this replica published more persisted events, so live
   * lines from other replicas held for them may go to the hub (after the events).
   */
  published(): void;
  /** Starts the feed over the opened store; call it after the commit pipeline listens to the store. */
  start(store: SqlTaskStore): void;
  /** Stops after the store flushed (its last commits still need the feed to be published). */
  close(): Promise<void>;
}

/**
 * Connects the listener and runs the NOTIFY self-test (startup fails with a clear message if
 * it does not come back), then hands out the pieces app.ts wires: store options, the live
 * sink, and the feed.
 */
export async function startReplication(options: ReplicationOptions): Promise<Replication> {
  const { log } = options;
  const replicaId = `${hostname().slice(0, 24)}-${process.pid}-${randomBytes(3).toString("hex")}`;
  const listener: PgListener = await startPgListener({
    url: options.url,
    channels: [CHANNELS.commits, CHANNELS.live, CHANNELS.selfTest],
    applicationName: `${LISTENER_APPLICATION_NAME} ${replicaId}`.slice(0, 63),
    log,
  });
  try {
    await checkNotifyRoundTrip(
      listener,
      async (channel, payload) => void (await options.db.knex.raw("select pg_notify(?, ?)", [channel, payload])),
      { channel: CHANNELS.selfTest, timeoutMs: options.selfTestTimeoutMs ?? 5000 },
    );
  } catch (err) {
    await listener.close();
    throw err;
  }
  log.info({ replicaId }, "PostgreSQL LISTEN/NOTIFY self-test passed");

  let feed: PgFeed | null = null;
  let relay: LiveRelay | null = null;
  let store: SqlTaskStore | null = null;

  return {
    replicaId,
    storeOptions: { publication: "feed", commitNotify: { channel: CHANNELS.commits, origin: replicaId } },

    live(hub) {
      relay = createLiveRelay({
        replicaId,
        send: (payload) => listener.notify(CHANNELS.live, payload),
        deliver: (events) => hub.publish(events),
        lastSequence: () => store?.lastSequence() ?? 0,
        want: (sequence) => feed?.notify(sequence),
        onError: (err) => log.warn({ err: (err as Error).message }, "live lines not sent to other replicas"),
      });
      const r = relay;
      return {
        publish(events: readonly SequencedEvent[]) {
          hub.publish(events);
          r.offer(events);
        },
      };
    },

    published() {
      relay?.published();
    },

    start(s) {
      store = s;
      feed = createPgFeed({
        store: s,
        catchUpMs: options.catchUpMs,
        onError: (err, what) =>
          what === "gap"
            ? log.error({ err: (err as Error).message }, "events were trimmed before this replica published them")
            : log.warn({ err: (err as Error).message }, "reading the event log failed; retrying"),
      });
      const f = feed;
      listener.onNotification((channel, payload) => {
        if (channel === CHANNELS.commits) {
          const [sequence, origin] = payload.split(" ");
          // This replica's own commits come through the store's handover (the fast path); its
          // echo often arrives first and would cost a needless read of the log.
          if (origin !== replicaId) f.notify(Number(sequence));
        }
        else if (channel === CHANNELS.live) relay?.receive(payload);
      });
      listener.onReconnect(() => f.poke());
      // Commits made between store.open() and now were not heard yet.
      f.poke();
    },

    async close() {
      relay?.close();
      await feed?.close();
      await listener.close();
    },
  };
}
