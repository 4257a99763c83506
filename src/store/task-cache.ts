import { LRUCache } from "lru-cache";
import type { Confirmation, Task } from "../domain/model.js";
import { isTerminal } from "../domain/model.js";

/** Options of createTaskCache. */
export interface TaskCacheOptions {
  /**
   * Finished tasks (and final confirmations) kept besides every unfinished one, least
   * recently used first out.
   * @default 10000
   */
  recentCapacity?: number;
}

/**
 * The store's memory of committed rows. It only ever follows commits (a batch's reads, a
 * cache miss, a publication), so whatever it holds is true as of some commit.
 */
export interface TaskCache {
  /** The task if held (unfinished ones always are); never reads the database. */
  task(id: string): Task | undefined;
  /** The id of the held task with this request id, if any. */
  taskIdByRequest(requestId: string): string | undefined;
  /** Takes a committed row as is (a read of the database, or a commit of this process). */
  remember(task: Task): void;
  /** Takes a row unless a later revision is held (a read may have run past a publication). */
  rememberIfNewer(task: Task): void;
  /** Every unfinished task, in no particular order. */
  activeTasks(): IterableIterator<Task>;
  /** Ids of every held task, unfinished and recent. */
  taskIds(): string[];
  /** The confirmation if held (pending ones always are). */
  confirmation(id: string): Confirmation | undefined;
  /** Takes a committed confirmation row as is. */
  rememberConfirmation(confirmation: Confirmation): void;
  /** Confirmations only leave PENDING: a final row is never replaced by a pending one. */
  rememberConfirmationIfNewer(confirmation: Confirmation): void;
  /** Every PENDING confirmation. */
  pendingConfirmations(): Confirmation[];
  /** Ids of every PENDING confirmation. */
  pendingConfirmationIds(): string[];
  /** Drops deleted rows (retention): the tasks, their request ids and the confirmations. */
  forget(taskIds: readonly string[], confirmationIds: readonly string[]): void;
}

/**
 * Unfinished tasks and PENDING confirmations are held without bound (EmitProgress, snapshots
 * and the expiry timers need them all, and the work in flight bounds them); finished ones
 * live in LRU caches of `recentCapacity` entries each. A request id is remembered as long
 * as its task is held.
 */
export function createTaskCache(options: TaskCacheOptions = {}): TaskCache {
  const max = Math.max(1, options.recentCapacity ?? 10_000);
  const active = new Map<string, Task>();
  const byRequestId = new Map<string, string>();
  const recent = new LRUCache<string, Task>({
    max,
    dispose(task, id, reason) {
      // Only an eviction forgets the request id: a replacement keeps the task held.
      if (reason === "evict" && task.requestId && byRequestId.get(task.requestId) === id) byRequestId.delete(task.requestId);
    },
  });
  const pending = new Map<string, Confirmation>();
  const recentConfirmations = new LRUCache<string, Confirmation>({ max });

  const cache: TaskCache = {
    task: (id) => active.get(id) ?? recent.get(id),

    taskIdByRequest: (requestId) => byRequestId.get(requestId),

    remember(task) {
      if (task.requestId) byRequestId.set(task.requestId, task.id);
      if (isTerminal(task.status)) {
        active.delete(task.id);
        recent.set(task.id, task);
      } else {
        active.set(task.id, task);
      }
    },

    rememberIfNewer(task) {
      const held = active.get(task.id) ?? recent.peek(task.id);
      if (!held || held.revision <= task.revision) cache.remember(task);
    },

    activeTasks: () => active.values(),

    taskIds: () => [...active.keys(), ...recent.keys()],

    confirmation: (id) => pending.get(id) ?? recentConfirmations.get(id),

    rememberConfirmation(c) {
      if (c.state === "pending") {
        pending.set(c.id, c);
        return;
      }
      pending.delete(c.id);
      recentConfirmations.set(c.id, c);
    },

    rememberConfirmationIfNewer(c) {
      const held = pending.get(c.id) ?? recentConfirmations.peek(c.id);
      if (!held || held.state === "pending" || c.state !== "pending") cache.rememberConfirmation(c);
    },

    pendingConfirmations: () => [...pending.values()],

    pendingConfirmationIds: () => [...pending.keys()],

    forget(taskIds, confirmationIds) {
      for (const id of taskIds) {
        const held = active.get(id) ?? recent.peek(id);
        if (held?.requestId && byRequestId.get(held.requestId) === id) byRequestId.delete(held.requestId);
        active.delete(id);
        recent.delete(id);
      }
      for (const id of confirmationIds) {
        pending.delete(id);
        recentConfirmations.delete(id);
      }
    },
  };
  return cache;
}
