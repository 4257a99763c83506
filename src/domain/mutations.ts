import { FailedPreconditionError, NotFoundError } from "./errors.js";
import { assertAttempt, type Leases, recoverStalled } from "./leases.js";
import type { Confirmation, Task } from "./model.js";
import { isTerminal } from "./model.js";
import type { Mutation } from "./ports.js";
import { assertMayAnswer, assertNotTerminal, isSameAnswer, validateAnswer } from "./rules.js";
import type { RequestConfirmationInput, ResolveConfirmationInput } from "./task-manager-api.js";
import { changed, endConfirmation, endPending, mustTask, resumeAfter } from "./transitions.js";

// The task manager's larger mutations, each a whole state transition: a confirmation asked
// (the task pauses at a decision point) and answered (it resumes), and a task finished.

/**
 * RequestConfirmation: a pending confirmation on the task (waiting_confirmation), or the one
 * this request id already made (a retry re-attaches). `ids` names the new confirmation;
 * `leases` sees the call of the task's current attempt.
 */
export function requestConfirmationMutation(input: RequestConfirmationInput, ids: () => string, leases: Leases): Mutation<Confirmation> {
  return {
    keys: {
      tasks: [input.taskId],
      confirmationRequests: input.requestId ? [{ taskId: input.taskId, requestId: input.requestId }] : [],
    },
    apply(w): Confirmation {
      const current = mustTask(w, input.taskId);
      assertAttempt(current, input.attempt);
      // A call of the current attempt: a stalled task (its held call had dropped) comes back.
      const recovered = recoverStalled(w, current);
      if (recovered) leases.recovered();
      const task = recovered ?? current;
      leases.touch(task);
      if (input.requestId) {
        const previous = w.confirmationByRequest(task.id, input.requestId);
        if (previous) return previous;
      }
      assertNotTerminal(task, "request a confirmation");
      if (task.pendingConfirmationId) {
        throw new FailedPreconditionError(
          `task ${task.id} already has pending confirmation ${task.pendingConfirmationId}`,
          "CONFIRMATION_PENDING",
          { confirmation_id: task.pendingConfirmationId },
        );
      }
      const id = `c-${ids()}`;
      const confirmation: Confirmation = {
        id,
        taskId: task.id,
        owner: task.owner,
        surfaceId: `confirm:${id}`,
        title: input.title,
        components: input.components,
        state: "pending",
        action: "",
        values: null,
        requestId: input.requestId || null,
        createTime: w.now,
        expireTime: input.timeoutMs > 0 ? w.now + input.timeoutMs : null,
        resolveTime: null,
        answerers: [...(input.answerers ?? [])],
        timeoutAction: input.timeoutAction ?? "",
        answeredBy: "",
        answerTime: null,
        defaulted: false,
      };
      const next = changed(task, { status: "waiting_confirmation", pendingConfirmationId: id }, w.now);
      w.putConfirmation(confirmation);
      w.putTask(next);
      w.emit({ type: "confirmation_requested", confirmation });
      w.emit({ type: "status_changed", task: next, pending: confirmation });
      return confirmation;
    },
  };
}

/**
 * ResolveConfirmation of a confirmation of task `taskId`: the first answer wins (answered,
 * the task resumes); the same answer again is a retry and changes nothing (fresh: false).
 */
export function resolveConfirmationMutation(input: ResolveConfirmationInput, taskId: string): Mutation<{ confirmation: Confirmation; fresh: boolean }> {
  /** The same answer again (a retry after a lost response): nothing changes. */
  const isRetryOf = (c: Confirmation): boolean => {
    try {
      return isSameAnswer(c, input.answerer, input.action, validateAnswer(c, input.action, input.values));
    } catch {
      return false;
    }
  };
  return {
    keys: { confirmations: [input.confirmationId], tasks: [taskId] },
    apply(w): { confirmation: Confirmation; fresh: boolean } {
      const c = w.confirmation(input.confirmationId);
      if (!c) throw new NotFoundError(`confirmation ${input.confirmationId} not found`, "CONFIRMATION_NOT_FOUND");
      assertMayAnswer(c, input.answerer);
      if (c.state !== "pending") {
        if (isRetryOf(c)) return { confirmation: c, fresh: false };
        throw new FailedPreconditionError(`confirmation ${c.id} is already ${c.state}`, "ALREADY_RESOLVED", {
          confirmation_state: `CONFIRMATION_STATE_${c.state.toUpperCase()}`,
        });
      }
      const values = validateAnswer(c, input.action, input.values);
      const answered = endConfirmation(w, c, {
        state: "answered",
        action: input.action,
        values,
        answeredBy: input.answerer.name,
        answerTime: w.now,
      });
      resumeAfter(w, c);
      return { confirmation: answered, fresh: true };
    },
  };
}

/**
 * A terminal transition (completed, failed, cancelled), ending a pending confirmation with it.
 * `retried` says when a finished task already holds this very outcome (a retry after a lost
 * answer): then it answers the task as it is, with no write and no event.
 */
export function finishMutation(
  taskId: string,
  what: string,
  patch: (task: Task, now: number) => Partial<Task>,
  check: { attempt?: number | undefined; retried: (task: Task) => boolean },
): Mutation<Task> {
  return {
    keys: { tasks: [taskId] },
    apply(w) {
      const task = mustTask(w, taskId);
      assertAttempt(task, check.attempt);
      if (isTerminal(task.status) && check.retried(task)) return task;
      assertNotTerminal(task, what);
      endPending(w, task);
      const next = changed(task, { ...patch(task, w.now), pendingConfirmationId: null, endTime: w.now }, w.now);
      w.putTask(next);
      w.emit({ type: "status_changed", task: next });
      return next;
    },
  };
}
