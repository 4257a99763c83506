import type { SequencedEvent } from "./model.js";

/** Which events a watcher wants: WatchTasks' owner and task_ids, after scoping. */
export interface EventFilter {
  /** Only this owner's tasks; undefined means every owner. */
  readonly owner?: string | undefined;
  /** Only these tasks; undefined means all (of the owner). */
  readonly taskIds?: ReadonlySet<string> | undefined;
}

/**
 * True when `e` is one the filter wants. The one match of the code base: the hub's queues
 * (live events) and the replay of the log (persisted ones) must agree, or a stream would
 * show a task's live lines and miss its persisted events, or the other way round.
 */
export function matchesFilter(filter: EventFilter, e: Pick<SequencedEvent, "owner" | "taskId">): boolean {
  if (filter.owner !== undefined && e.owner !== filter.owner) return false;
  return !filter.taskIds || filter.taskIds.has(e.taskId);
}
