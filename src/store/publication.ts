import type { Confirmation, SequencedEvent, Task } from "../domain/model.js";

/** Committed events with the rows they left behind: what one publication hands the cache and listeners. */
export interface CommittedChanges {
  /** Contiguous, in sequence order. */
  readonly events: readonly SequencedEvent[];
  /** Rows of the tasks the events touched, as committed. */
  readonly tasks: readonly Task[];
  /** Rows of the confirmations the events touched, as committed. */
  readonly confirmations: readonly Confirmation[];
}

/** Makes committed changes visible (the store's publish: cache, lastSequence(), onCommit listeners). */
export type Publish = (changes: CommittedChanges) => void;

/** How this process's commits reach the cache and the onCommit listeners. */
export interface PublicationStrategy {
  /**
   * True when every commit is published by the batch that made it, in commit order: with a
   * sole writer the store's last sequence is then the log's maximum.
   */
  readonly publishesOwnCommits: boolean;
  /** Takes one local commit; the batch's callers are answered when it settles (a throw fails them). */
  committed(changes: CommittedChanges): void | Promise<void>;
  /** Sets the handler that publishes local commits (feed publication; the direct one has none). */
  onLocalCommit(handler: (changes: CommittedChanges) => Promise<void>): void;
}

/**
 * "direct": each commit is published right after it, which is sequence order only while this
 * process is the one writer (SQLite).
 */
export function directPublication(publish: Publish): PublicationStrategy {
  return {
    publishesOwnCommits: true,
    committed: publish,
    // Nothing to hand over: the batch publishes its own commit.
    onLocalCommit: () => undefined,
  };
}

/**
 * "feed": each local commit that made events goes to the onLocalCommit handler (pg-feed.ts),
 * which publishes it, through `publish`, once every earlier sequence, whichever replica wrote
 * it, was published. A commit without events has nothing to order: its rows go to the cache
 * at once.
 */
export function feedPublication(publish: Publish): PublicationStrategy {
  let handler: ((changes: CommittedChanges) => Promise<void>) | null = null;
  return {
    publishesOwnCommits: false,
    committed(changes) {
      if (changes.events.length === 0) return publish(changes);
      if (!handler) throw new Error("feed publication without an onLocalCommit handler");
      return handler(changes);
    },
    onLocalCommit(h) {
      handler = h;
    },
  };
}
