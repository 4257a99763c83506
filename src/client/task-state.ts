// What a watcher knows about tasks, built from WatchTasks events (and ListTasks pages).
// Shared by taskctl watch and the web monitor; no Node or DOM APIs.
import { durationMs, timestampMs } from "@bufbuild/protobuf/wkt";
import {
  ConfirmationState,
  TaskStatus,
  type Confirmation,
  type Task,
} from "../../gen/taskcontrol/v1/task_pb.js";
import type { WatchTasksResponse } from "../../gen/taskcontrol/v1/task_control_service_pb.js";

/** One task as a watcher draws it: the stored task plus what only live events carry. */
export interface TaskEntry {
  /** The task as last known (persisted fields, pending confirmation). */
  task: Task;
  /** Progress to draw: the latest value from either a persisted or a live event. */
  shownProgress: number;
  /** The latest live line (EmitProgress label); "" until one arrives. */
  liveLine: string;
  /** When the latest live line arrived. */
  liveTime: Date | undefined;
}

/** What an event changed, so a view redraws only that and opens or closes dialogs. */
export type TaskChange =
  | { readonly kind: "upserted"; readonly taskId: string; readonly created: boolean }
  | { readonly kind: "progress"; readonly taskId: string; readonly persisted: boolean }
  | {
      readonly kind: "confirmationRequested";
      readonly taskId: string;
      readonly confirmation: Confirmation;
    }
  | {
      readonly kind: "confirmationResolved";
      readonly taskId: string;
      readonly confirmation: Confirmation;
    }
  | { readonly kind: "unknownTask"; readonly taskId: string }
  | { readonly kind: "snapshotEnd" }
  | { readonly kind: "none" };

/** True for SUCCEEDED, FAILED and CANCELLED: nothing will change the task any more. */
export function isTerminal(status: TaskStatus): boolean {
  return (
    status === TaskStatus.SUCCEEDED || status === TaskStatus.FAILED || status === TaskStatus.CANCELLED
  );
}

/** Tasks keyed by id, updated by applying watch events in stream order. */
export class TaskState {
  /** The known tasks; insertion order is meaningless, use sorted(). */
  readonly entries = new Map<string, TaskEntry>();

  /** Forgets everything (before a fresh snapshot). */
  clear(): void {
    this.entries.clear();
  }

  /**
   * Stores a task. Stream events are applied in order and always win; a task from a
   * ListTasks page (fromList) only replaces a known one with a newer revision, because a page
   * may have been read before events that already arrived.
   */
  upsert(task: Task, fromList = false): TaskChange {
    const known = this.entries.get(task.id);
    if (known !== undefined && fromList && task.revision <= known.task.revision) {
      return { kind: "none" };
    }
    if (known === undefined) {
      this.entries.set(task.id, {
        task,
        shownProgress: task.progress,
        liveLine: "",
        liveTime: undefined,
      });
      return { kind: "upserted", taskId: task.id, created: true };
    }
    // A status_changed task may omit the pending confirmation its confirmation_requested
    // event already delivered; keep it while the task still waits.
    if (
      task.status === TaskStatus.WAITING_CONFIRMATION &&
      task.pendingConfirmation === undefined &&
      known.task.pendingConfirmation !== undefined
    ) {
      task.pendingConfirmation = known.task.pendingConfirmation;
    }
    known.task = task;
    known.shownProgress = task.progress;
    return { kind: "upserted", taskId: task.id, created: false };
  }

  /** Applies one WatchTasks event and says what changed. */
  apply(event: WatchTasksResponse): TaskChange {
    const e = event.event;
    switch (e.case) {
      case "snapshot":
      case "taskCreated":
      case "statusChanged":
        return e.value.task === undefined ? { kind: "none" } : this.upsert(e.value.task);
      case "snapshotEnd":
        return { kind: "snapshotEnd" };
      case "progress": {
        const p = e.value;
        const entry = this.entries.get(p.taskId);
        if (entry === undefined) return { kind: "unknownTask", taskId: p.taskId };
        entry.shownProgress = p.progress;
        if (p.persisted) {
          entry.task.progress = p.progress;
          if (p.label !== "") entry.task.label = p.label;
          if (p.checkpoint !== undefined) entry.task.checkpoint = p.checkpoint;
          if (event.time !== undefined) entry.task.updateTime = event.time;
          // The row's revision moved on; lets an older ListTasks page lose against it.
          entry.task.revision += 1n;
        } else {
          entry.liveLine = p.label;
          entry.liveTime = event.time === undefined ? new Date() : new Date(timestampMs(event.time));
        }
        return { kind: "progress", taskId: p.taskId, persisted: p.persisted };
      }
      case "confirmationRequested": {
        const c = e.value.confirmation;
        if (c === undefined) return { kind: "none" };
        const entry = this.entries.get(c.taskId);
        if (entry === undefined) return { kind: "unknownTask", taskId: c.taskId };
        entry.task.pendingConfirmation = c;
        if (!isTerminal(entry.task.status)) entry.task.status = TaskStatus.WAITING_CONFIRMATION;
        return { kind: "confirmationRequested", taskId: c.taskId, confirmation: c };
      }
      case "confirmationResolved": {
        const c = e.value.confirmation;
        if (c === undefined) return { kind: "none" };
        const entry = this.entries.get(c.taskId);
        if (entry !== undefined && entry.task.pendingConfirmation?.id === c.id) {
          entry.task.pendingConfirmation = undefined;
          if (
            entry.task.status === TaskStatus.WAITING_CONFIRMATION &&
            c.state !== ConfirmationState.CANCELLED
          ) {
            entry.task.status = TaskStatus.RUNNING;
          }
        }
        return { kind: "confirmationResolved", taskId: c.taskId, confirmation: c };
      }
      default:
        return { kind: "none" };
    }
  }

  /** Newest first (create_time, then id), the order both UIs list tasks in. */
  sorted(): TaskEntry[] {
    return [...this.entries.values()].sort(compareEntries);
  }
}

/** Newest first by create_time, ties broken by id so the order is stable. */
export function compareEntries(a: TaskEntry, b: TaskEntry): number {
  const ta = a.task.createTime === undefined ? 0 : timestampMs(a.task.createTime);
  const tb = b.task.createTime === undefined ? 0 : timestampMs(b.task.createTime);
  if (ta !== tb) return tb - ta;
  return a.task.id < b.task.id ? -1 : a.task.id > b.task.id ? 1 : 0;
}

/** Short lower-case status words both UIs use ("running", "waiting for you", …). */
export function statusText(status: TaskStatus): string {
  switch (status) {
    case TaskStatus.RUNNING:
      return "running";
    case TaskStatus.WAITING_CONFIRMATION:
      return "waiting for you";
    case TaskStatus.STALLED:
      return "stalled";
    case TaskStatus.SUCCEEDED:
      return "succeeded";
    case TaskStatus.FAILED:
      return "failed";
    case TaskStatus.CANCELLED:
      return "cancelled";
    default:
      return "unknown";
  }
}

/**
 * For a STALLED task, what a person needs: "no word from the worker for 63 s (attempt 2)",
 * counted from the worker's last known call (the lease's expiry less its duration); "" for
 * any other status.
 */
export function stallText(task: Task, now = Date.now()): string {
  if (task.status !== TaskStatus.STALLED) return "";
  const lease = task.leaseDuration === undefined ? 0 : durationMs(task.leaseDuration);
  const from = task.leaseExpireTime ?? task.stallTime ?? task.updateTime;
  const lastWord = from === undefined ? now : timestampMs(from) - lease;
  const seconds = Math.max(0, Math.round((now - lastWord) / 1000));
  return `no word from the worker for ${seconds} s (attempt ${task.attempt})`;
}

/** Whole percent for display, floored so 99.6 % does not read as done. */
export function percent(progress: number): number {
  if (!Number.isFinite(progress)) return 0;
  return Math.max(0, Math.min(100, Math.floor(progress * 100 + 1e-9)));
}
