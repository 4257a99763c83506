import type { SequencedEvent } from "../domain/model.js";
import type { EventSink } from "../domain/ports.js";

/**
 * What sees a commit, by role. The store has already taken it into its cache and its
 * lastSequence() when the pipeline runs (the store publishes to its cache, then to its one
 * onCommit listener: this pipeline).
 */
export interface CommitStages {
  /** The task manager: wakes held confirmation calls, arms and clears expiries. */
  readonly manager: { onEvents(events: readonly SequencedEvent[]): void };
  /** The event hub: queues the events for every matching watcher. */
  readonly hub: EventSink;
  /**
   * Replication's live relay (several replicas only): live lines from other replicas held
   * until the event they follow is published here may now go to the hub.
   */
  readonly relay?: { published(): void } | undefined;
}

/** The order the stages run in, first to last (the pipeline's own test pins it). */
export const COMMIT_ORDER = Object.freeze(["manager", "hub", "relay"] as const);

/**
 * The one owner of what happens after a commit, and in which order:
 * 1. the manager, so a held RequestConfirmation call is woken before any watcher is told
 *    (the worker learns its answer no later than the UI sees it taken);
 * 2. the hub, so watchers get the commit's events;
 * 3. the relay, last, so a live line held for this commit reaches watchers after the
 *    commit's events, never before them.
 * Registration order decides nothing: the store gets this one listener.
 */
export function createCommitPipeline(stages: CommitStages): (events: readonly SequencedEvent[]) => void {
  const { manager, hub, relay } = stages;
  return (events) => {
    manager.onEvents(events);
    hub.publish(events);
    relay?.published();
  };
}
