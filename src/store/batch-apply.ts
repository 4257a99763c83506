import type { Confirmation, Task, TaskEvent } from "../domain/model.js";
import type { Mutation, Working } from "../domain/ports.js";
import type { ApplyResult } from "./batch-writer.js";
import type { TaskCache } from "./task-cache.js";

/** What an attempt read from the database for keys the cache did not hold (or all of them, on a retry). */
export interface Loaded {
  readonly tasks: Map<string, Task>;
  /** Tasks by request id. */
  readonly requestIds: Map<string, Task>;
  readonly confirmations: Map<string, Confirmation>;
  /** Confirmations by `${taskId}\u0000${requestId}` (requestKey). */
  readonly confirmationRequests: Map<string, Confirmation>;
}

/** The key of Loaded.confirmationRequests. */
export function requestKey(taskId: string, requestId: string): string {
  return `${taskId}\u0000${requestId}`;
}

/** A batch's accumulated changes: what its transaction writes. */
export interface Changes {
  /** The last state of each task the batch changed (several updates coalesce into one row write). */
  readonly tasks: Map<string, Task>;
  /** Revision each changed task had when the batch read it (0 for new tasks: an INSERT). */
  readonly baseRevisions: Map<string, number>;
  readonly confirmations: Map<string, Confirmation>;
  /** Ids of the confirmations the batch created (an INSERT; the others are UPDATEs of a PENDING row). */
  readonly newConfirmations: Set<string>;
  /** The persisted events in order, each with the index of the mutation that made it. */
  readonly events: { readonly owner: number; readonly event: TaskEvent }[];
}

/**
 * Applies a batch's mutations in order over one Working view: reads see the batch's earlier
 * changes, then the rows loaded for it, then the cache. Each mutation writes into an op-local
 * overlay that joins the batch only if apply returns (a StreamProgress batch holds thousands,
 * so the view is built once and the overlay cleared between mutations).
 */
export function applyBatch(
  batch: readonly Mutation<unknown>[],
  loaded: Loaded,
  cache: TaskCache,
  now: number,
): { changes: Changes; results: ApplyResult[] } {
  const changes: Changes = {
    tasks: new Map(),
    baseRevisions: new Map(),
    confirmations: new Map(),
    newConfirmations: new Set(),
    events: [],
  };
  const results: ApplyResult[] = [];
  const readTask = (id: string): Task | null => changes.tasks.get(id) ?? loaded.tasks.get(id) ?? cache.task(id) ?? null;
  const readConfirmation = (id: string): Confirmation | null =>
    changes.confirmations.get(id) ?? loaded.confirmations.get(id) ?? cache.confirmation(id) ?? null;

  const tasks = new Map<string, Task>();
  const confirmations = new Map<string, Confirmation>();
  // One list for every mutation's events (emptied between them: they are copied into changes).
  const events: TaskEvent[] = [];
  const working: Working = {
    now,
    task: (id) => tasks.get(id) ?? readTask(id),
    taskByRequestId(requestId) {
      for (const t of [...tasks.values(), ...changes.tasks.values()]) if (t.requestId === requestId) return t;
      const fromDb = loaded.requestIds.get(requestId);
      if (fromDb) return working.task(fromDb.id);
      const id = cache.taskIdByRequest(requestId);
      return id ? working.task(id) : null;
    },
    confirmation: (id) => confirmations.get(id) ?? readConfirmation(id),
    confirmationByRequest(taskId, requestId) {
      for (const c of [...confirmations.values(), ...changes.confirmations.values()]) {
        if (c.taskId === taskId && c.requestId === requestId) return c;
      }
      // Confirmation request keys are always read from the database (never the cache), so
      // every committed confirmation with this request id is here.
      const fromDb = loaded.confirmationRequests.get(requestKey(taskId, requestId));
      return fromDb ? working.confirmation(fromDb.id) : null;
    },
    putTask: (t) => void tasks.set(t.id, t),
    putConfirmation: (c) => void confirmations.set(c.id, c),
    emit: (e) => void events.push(e),
  };

  batch.forEach((mutation, index) => {
    tasks.clear();
    confirmations.clear();
    events.length = 0;
    try {
      const value = mutation.apply(working);
      for (const t of tasks.values()) {
        if (!changes.baseRevisions.has(t.id)) changes.baseRevisions.set(t.id, readTask(t.id)?.revision ?? 0);
        changes.tasks.set(t.id, t);
      }
      for (const c of confirmations.values()) {
        if (!readConfirmation(c.id)) changes.newConfirmations.add(c.id);
        changes.confirmations.set(c.id, c);
      }
      for (const event of events) changes.events.push({ owner: index, event });
      results.push({ ok: true, value });
    } catch (error) {
      results.push({ ok: false, error });
    }
  });
  return { changes, results };
}
