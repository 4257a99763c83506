import { Code, ConnectError, type HandlerContext, type ServiceImpl } from "@connectrpc/connect";
import { DomainError, InvalidArgumentError, PermissionDeniedError, UnavailableError } from "../domain/errors.js";
import type { Task } from "../domain/model.js";
import type { HeartbeatOutcome, ProgressOutcome, TaskManager } from "../domain/task-manager.js";
import {
  CancelTaskRequestSchema,
  ClaimTaskRequestSchema,
  CompleteTaskRequestSchema,
  CreateTaskRequestSchema,
  type EmitProgressRequest,
  EmitProgressRequestSchema,
  FailTaskRequestSchema,
  GetTaskRequestSchema,
  HeartbeatRequestSchema,
  ListTaskEventsRequestSchema,
  ListTasksRequestSchema,
  ResolveConfirmationRequestSchema,
  StreamProgressRequestSchema,
  TaskControlService,
  type UpdateProgressRequest,
  UpdateProgressRequestSchema,
  type WatchTasksResponse,
  WatchTasksRequestSchema,
} from "../../gen/taskcontrol/v1/task_control_service_pb.js";
import {
  confirmationToProto,
  durationToMs,
  statusesFromProto,
  taskToProto,
  watchItemToProto,
} from "./convert.js";
import { toConnectError } from "./errors.js";
import { emitAnswer, heartbeatAnswer, updateAnswer } from "./progress-answers.js";
import { assertOwnerVisible, ownerScope, principalKey } from "./principal.js";
import { ConfirmationCall } from "./confirmation-call.js";
import { StreamProgressInvalidError, mapStream, mapStreamErrors, streamAbortKey } from "./stream-control.js";
import { eventPageLimit, pageLimit, validate, validateKnown } from "./validation.js";

/** What the service needs; only app.ts builds it. Tasks, answers and watches go through the manager. */
export interface TaskControlDeps {
  manager: TaskManager;
  /** Aborted when the server starts draining: held calls and watches end with UNAVAILABLE. */
  shutdown: AbortSignal;
  /** Idle time before a watch bookmark, in milliseconds. */
  bookmarkMs: number;
  /** Receives unexpected errors (they reach the caller as INTERNAL without detail). */
  logError: (err: unknown, method: string) => void;
  /** Receives the errors a call ends with because its client went away (normal: debug). */
  logDisconnect?: (err: unknown, method: string) => void;
}

/** StreamProgress updates awaiting commit at once; past it the stream waits (flow control). */
const STREAM_WINDOW = 4096;

/**
 * TaskControlService, implemented once on the generated types and served by both listeners.
 * Each method turns the request into domain terms, calls the task manager, and turns the
 * answer back; scoping by principal happens here, every rule lives in the domain.
 */
export function createTaskControlService(deps: TaskControlDeps): ServiceImpl<typeof TaskControlService> {
  const { manager } = deps;

  async function visibleTask(ctx: HandlerContext, taskId: string): Promise<Task> {
    const task = await manager.getTask(taskId);
    assertOwnerVisible(ctx.values.get(principalKey), task.owner, `task ${taskId}`);
    return task;
  }

  async function withPending(task: Task): Promise<ReturnType<typeof taskToProto>> {
    return taskToProto(task, await manager.pendingConfirmationOf(task));
  }

  function updateInput(r: UpdateProgressRequest) {
    return { taskId: r.taskId, progress: r.progress, checkpoint: r.checkpoint, label: r.label, attempt: Number(r.attempt) };
  }

  function emitInput(r: EmitProgressRequest) {
    return { taskId: r.taskId, progress: r.progress, label: r.label, checkpoint: r.checkpoint, attempt: Number(r.attempt) };
  }

  /** The end of a watch: on a drain the client is told to resume, not that the stream is done. */
  function endOfWatch(): void {
    if (deps.shutdown.aborted) throw new UnavailableError("server is shutting down; resume with after_sequence", "SHUTTING_DOWN");
  }

  const impl: ServiceImpl<typeof TaskControlService> = {
    async createTask(req) {
      validate(CreateTaskRequestSchema, req);
      const task = await manager.createTask({
        owner: req.owner,
        kind: req.kind,
        label: req.label,
        checkpoint: req.checkpoint ?? null,
        requestId: req.requestId,
        leaseDurationMs: durationToMs(req.leaseDuration),
      });
      return { task: taskToProto(task) };
    },

    async getTask(req, ctx) {
      validateKnown(GetTaskRequestSchema, req);
      return { task: await withPending(await visibleTask(ctx, req.taskId)) };
    },

    async listTasks(req, ctx) {
      validate(ListTasksRequestSchema, req);
      const owner = ownerScope(ctx.values.get(principalKey), req.owner);
      const statuses = statusesFromProto(req.statuses);
      const limit = pageLimit(req.pageSize);
      const filterKey = JSON.stringify([owner ?? null, statuses]);
      const before = req.pageToken ? decodePageToken(req.pageToken, filterKey) : undefined;
      if (statuses === "none") return { tasks: [], nextPageToken: "" };
      const tasks = await manager.listTasks({ owner, statuses, limit: limit + 1, before });
      const page = tasks.slice(0, limit);
      const last = page[page.length - 1];
      return {
        tasks: await Promise.all(page.map(withPending)),
        nextPageToken: tasks.length > limit && last ? encodePageToken(last, filterKey) : "",
      };
    },

    async updateProgress(req) {
      if (validate(UpdateProgressRequestSchema, req).unknown) return updateAnswer(UNKNOWN_TASK);
      return updateAnswer(await manager.updateProgress(updateInput(req)));
    },

    async emitProgress(req) {
      if (validate(EmitProgressRequestSchema, req).unknown) return emitAnswer(UNKNOWN_TASK);
      return emitAnswer(await manager.emitProgress(emitInput(req)));
    },

    async streamProgress(requests) {
      let received = 0;
      const counts = { updated: 0, emitted: 0, notFound: 0, notApplied: 0 };
      const cancelled = new Set<string>();
      const inFlight: Promise<void>[] = [];
      const tally = (kind: "update" | "emit", taskId: string, o: ProgressOutcome) => {
        if (!o.found) counts.notFound++;
        else if (!o.applied) counts.notApplied++;
        else if (kind === "update") counts.updated++;
        else counts.emitted++;
        if (o.found && o.cancelRequested) cancelled.add(taskId);
      };
      let invalid: { index: number; err: InvalidArgumentError } | undefined;
      // The first update the manager refused (a superseded attempt, the store unavailable). It
      // is caught as it happens, not when the window is awaited: a rejection left unhandled
      // while the stream waits for its next message would take the whole process down.
      let refused: { error: unknown } | undefined;
      const refuse = (error: unknown) => void (refused ??= { error });
      try {
        for await (const msg of requests) {
          if (refused) break;
          const index = received++;
          const m = msg.message;
          try {
            if (validate(StreamProgressRequestSchema, msg).unknown) {
              tally("update", "", UNKNOWN_TASK);
            } else if (m.case === "update") {
              const taskId = m.value.taskId;
              inFlight.push(manager.updateProgress(updateInput(m.value)).then((o) => tally("update", taskId, o), refuse));
            } else if (m.case === "emit") {
              tally("emit", m.value.taskId, await manager.emitProgress(emitInput(m.value)));
            }
          } catch (err) {
            if (!(err instanceof InvalidArgumentError)) throw err;
            // The counts are known once the updates before it have committed (below).
            invalid = { index, err };
            break;
          }
          if (inFlight.length >= STREAM_WINDOW) await Promise.all(inFlight.splice(0, STREAM_WINDOW / 2));
        }
      } finally {
        // Whatever ends the stream, the updates already accepted are committed before it closes.
        await Promise.allSettled(inFlight);
      }
      if (refused) throw refused.error;
      if (invalid) throw new StreamProgressInvalidError(invalid.index, { ...counts }, invalid.err);
      return {
        received: BigInt(received),
        updated: BigInt(counts.updated),
        emitted: BigInt(counts.emitted),
        notFound: BigInt(counts.notFound),
        notApplied: BigInt(counts.notApplied),
        cancelRequestedTaskIds: [...cancelled],
      };
    },

    requestConfirmation(req, ctx) {
      // A plain iterator, not an `async function*`: a held call keeps a small object, not a
      // suspended generator with its request (the components) and its promises.
      return new ConfirmationCall(deps, req, ctx);
    },

    async resolveConfirmation(req, ctx) {
      validateKnown(ResolveConfirmationRequestSchema, req);
      const principal = ctx.values.get(principalKey);
      const c = await manager.resolveConfirmation({
        confirmationId: req.confirmationId,
        action: req.action,
        values: req.values ?? {},
        // A user sees only its owner's confirmations; others may answer any.
        owner: ownerScope(principal, ""),
        answerer: { name: principal.name, role: principal.role },
      });
      return { confirmation: confirmationToProto(c) };
    },

    async listTaskEvents(req, ctx) {
      validateKnown(ListTaskEventsRequestSchema, req);
      await visibleTask(ctx, req.taskId);
      const limit = eventPageLimit(req.pageSize);
      const after = req.pageToken ? decodeEventPageToken(req.pageToken, req.taskId) : 0;
      const events = await manager.listTaskEvents({ taskId: req.taskId, afterSequence: after, limit: limit + 1 });
      const page = events.slice(0, limit);
      const last = page[page.length - 1];
      return {
        events: page.map((event) => watchItemToProto({ kind: "event", event })),
        nextPageToken: events.length > limit && last ? encodeEventPageToken(last.sequence, req.taskId) : "",
      };
    },

    async completeTask(req, ctx) {
      validateKnown(CompleteTaskRequestSchema, req);
      await visibleTask(ctx, req.taskId);
      return {
        task: taskToProto(await manager.completeTask({ taskId: req.taskId, result: req.result ?? null, attempt: Number(req.attempt) })),
      };
    },

    async failTask(req, ctx) {
      validateKnown(FailTaskRequestSchema, req);
      await visibleTask(ctx, req.taskId);
      const task = await manager.failTask({
        taskId: req.taskId,
        errorMessage: req.errorMessage,
        details: req.details ?? null,
        attempt: Number(req.attempt),
      });
      return { task: taskToProto(task) };
    },

    async cancelTask(req, ctx) {
      validateKnown(CancelTaskRequestSchema, req);
      await visibleTask(ctx, req.taskId);
      return { task: taskToProto(await manager.cancelTask({ taskId: req.taskId, reason: req.reason })) };
    },

    async heartbeat(req) {
      if (validate(HeartbeatRequestSchema, req).unknown) return heartbeatAnswer(UNKNOWN_HEARTBEAT);
      return heartbeatAnswer(await manager.heartbeat({ taskId: req.taskId, attempt: Number(req.attempt) }));
    },

    async claimTask(req, ctx) {
      validateKnown(ClaimTaskRequestSchema, req);
      await visibleTask(ctx, req.taskId);
      const task = await manager.claimTask({ taskId: req.taskId, leaseDurationMs: durationToMs(req.leaseDuration), requestId: req.requestId });
      return { task: await withPending(task) };
    },

    watchTasks(req, ctx): AsyncIterable<WatchTasksResponse> {
      validate(WatchTasksRequestSchema, req);
      const principal = ctx.values.get(principalKey);
      // A worker watches the tasks it runs (a cancel reaches it between calls); owner-wide
      // watches stay with users, gateways and admins.
      if (principal.role === "worker" && req.taskIds.length === 0) {
        throw new PermissionDeniedError(`role worker may call WatchTasks only with task_ids`);
      }
      const owner = ownerScope(principal, req.owner);
      // Sequences are safe integers; anything larger is ahead of any log (OUT_OF_RANGE below).
      const afterSequence =
        req.afterSequence === undefined
          ? undefined
          : Number(req.afterSequence > BigInt(Number.MAX_SAFE_INTEGER) ? BigInt(Number.MAX_SAFE_INTEGER) : req.afterSequence);
      // ctx.signal (or the gRPC listener's lighter stand-in, see StreamEnd) already aborts on
      // shutdown: a composite AbortSignal.any per held stream only costs memory.
      const end = ctx.values.get(streamAbortKey);
      const signal = end?.signal ?? ctx.signal;
      const items = manager.watch(
        {
          owner,
          taskIds: req.taskIds.length > 0 ? new Set(req.taskIds) : undefined,
          includeSnapshot: req.includeSnapshot,
          afterSequence,
        },
        signal,
        {
          bookmarkMs: deps.bookmarkMs,
          // Ends the watch at once on a transport that can (streamAbortKey).
          onOverflow: end,
        },
      );
      // Mapped by a plain iterator, not a generator looping over another (memory per held watch).
      return mapStream(() => items, watchItemToProto, endOfWatch);
    },
  };
  return withErrorMapping(impl, deps.logError, deps.logDisconnect ?? (() => {}));
}

/**
 * Error codes with which Node's sockets and HTTP streams say that the peer went away (reset,
 * closed, socket destroyed): a connect-node handler sees them thrown into its generator or
 * out of its request body.
 */
const PEER_GONE = new Set([
  "ECONNRESET",
  "EPIPE",
  "ECONNABORTED",
  "ERR_STREAM_DESTROYED",
  "ERR_STREAM_PREMATURE_CLOSE",
  "ERR_STREAM_WRITE_AFTER_END",
  "ERR_HTTP2_STREAM_ERROR",
  "ERR_HTTP2_STREAM_CANCEL",
  "ERR_HTTP2_INVALID_STREAM",
]);

/** True when `err` only says that the call's client is gone: normal, not a server fault. */
function clientGone(err: unknown, ctx: HandlerContext | undefined): boolean {
  if (ctx?.signal.aborted && err === ctx.signal.reason) return true;
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === "string" && PEER_GONE.has(code);
}

/** Status of a call whose client went away (nobody reads it; metrics and logs do). */
const CLIENT_GONE = () => new ConnectError("the client went away", Code.Canceled);

/** Wraps every method so that domain errors leave as ConnectErrors with the right code. */
function withErrorMapping(
  impl: ServiceImpl<typeof TaskControlService>,
  logError: (err: unknown, method: string) => void,
  logDisconnect: (err: unknown, method: string) => void,
): ServiceImpl<typeof TaskControlService> {
  const wrapped: Record<string, unknown> = {};
  for (const method of TaskControlService.methods) {
    const fn = (impl as unknown as Record<string, (...a: unknown[]) => unknown>)[method.localName]!;
    const mapped = (err: unknown, ctx: unknown): ConnectError => {
      if (!(err instanceof ConnectError) && !(err instanceof DomainError) && clientGone(err, ctx as HandlerContext | undefined)) {
        logDisconnect(err, method.name);
        return CLIENT_GONE();
      }
      return toConnectError(err, (e) => logError(e, method.name));
    };
    if (method.methodKind === "server_streaming") {
      // A plain iterator, not an `async function*` around `yield*`: one generator fewer per
      // held stream; the mapping is told the call's context, not a closure made per call.
      wrapped[method.localName] = (req: unknown, ctx: unknown) =>
        mapStreamErrors(() => fn(req, ctx) as AsyncIterable<unknown>, mapped, ctx);
    } else {
      wrapped[method.localName] = async (req: unknown, ctx: unknown) => {
        try {
          return await fn(req, ctx);
        } catch (err) {
          throw mapped(err, ctx);
        }
      };
    }
  }
  return wrapped as unknown as ServiceImpl<typeof TaskControlService>;
}

/** The answer to a heartbeat naming a task that cannot exist (a malformed id). */
const UNKNOWN_HEARTBEAT: HeartbeatOutcome = { found: false, status: null, cancelRequested: false, leaseExpireTime: null };

/** The answer to a progress call naming a task that cannot exist (a malformed id). */
const UNKNOWN_TASK: ProgressOutcome = { found: false, applied: false, status: null, cancelRequested: false };

function encodePageToken(last: Task, filterKey: string): string {
  return Buffer.from(JSON.stringify({ c: last.createTime, i: last.id, f: filterKey })).toString("base64url");
}

/** The fields of an opaque page token (base64url JSON); INVALID_ARGUMENT when it is not one. */
function readPageToken(token: string): Record<string, unknown> {
  try {
    const parsed: unknown = JSON.parse(Buffer.from(token, "base64url").toString("utf8"));
    if (parsed !== null && typeof parsed === "object") return parsed as Record<string, unknown>;
  } catch {
    // reported below
  }
  throw new InvalidArgumentError("page_token", "is malformed");
}

function decodePageToken(token: string, filterKey: string): { createTime: number; id: string } {
  const p = readPageToken(token) as { c?: unknown; i?: unknown; f?: unknown };
  if (typeof p.c !== "number" || typeof p.i !== "string") throw new InvalidArgumentError("page_token", "is malformed");
  if (p.f !== filterKey) throw new InvalidArgumentError("page_token", "was issued for other filters");
  return { createTime: p.c, id: p.i };
}

/** A ListTaskEvents token: the last sequence served, bound to its task. */
function encodeEventPageToken(sequence: number, taskId: string): string {
  return Buffer.from(JSON.stringify({ s: sequence, t: taskId })).toString("base64url");
}

function decodeEventPageToken(token: string, taskId: string): number {
  const p = readPageToken(token) as { s?: unknown; t?: unknown };
  if (typeof p.s !== "number" || !Number.isSafeInteger(p.s) || p.s < 0 || typeof p.t !== "string") {
    throw new InvalidArgumentError("page_token", "is malformed");
  }
  if (p.t !== taskId) throw new InvalidArgumentError("page_token", "was issued for another task");
  return p.s;
}
