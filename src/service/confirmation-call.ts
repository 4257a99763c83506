import { create } from "@bufbuild/protobuf";
import type { HandlerContext } from "@connectrpc/connect";
import { UnavailableError } from "../domain/errors.js";
import type { Confirmation, Task } from "../domain/model.js";
import type { TaskManager } from "../domain/task-manager.js";
import {
  type RequestConfirmationRequest,
  RequestConfirmationRequestSchema,
  type RequestConfirmationResponse,
  RequestConfirmationResponseSchema,
} from "../../gen/taskcontrol/v1/task_control_service_pb.js";
import { componentsFromProto, confirmationToProto, durationToMs, stateToProto } from "./convert.js";
import { streamAbortKey } from "./stream-control.js";
import { validateKnown } from "./validation.js";

/** What a RequestConfirmation call needs of the service (its deps, shared by every call). */
export interface ConfirmationCallDeps {
  readonly manager: TaskManager;
  /** Aborted when the server starts draining: a held call ends with UNAVAILABLE. */
  readonly shutdown: AbortSignal;
}

/** The answer of a confirmation that left PENDING, as the call's last message. */
function resolved(c: Confirmation, task: Task | undefined): RequestConfirmationResponse {
  return create(RequestConfirmationResponseSchema, {
    event: {
      case: "resolved",
      value: {
        confirmationId: c.id,
        outcome: stateToProto(c.state),
        action: c.action,
        values: c.values ?? undefined,
        cancelRequested: task?.cancelRequested ?? c.state === "cancelled",
        answeredBy: c.answeredBy,
        defaulted: c.defaulted,
      },
    },
  });
}

const DONE: IteratorReturnResult<undefined> = Object.freeze({ done: true, value: undefined });

/**
 * One RequestConfirmation call: the pending confirmation (created or re-attached), then the
 * answer once it comes, or the end when the call's signal aborts first (UNAVAILABLE when the
 * server drains: the client re-attaches with its request_id). What an `async function*`
 * did, as three steps of one object; the request is let go once the confirmation exists.
 */
export class ConfirmationCall implements AsyncIterableIterator<RequestConfirmationResponse> {
  private request: RequestConfirmationRequest | null;
  private confirmation: Confirmation | null = null;
  private finished = false;

  constructor(
    private readonly deps: ConfirmationCallDeps,
    request: RequestConfirmationRequest,
    private readonly ctx: HandlerContext,
  ) {
    this.request = request;
  }

  [Symbol.asyncIterator](): this {
    return this;
  }

  next(): Promise<IteratorResult<RequestConfirmationResponse>> {
    if (this.finished) return Promise.resolve(DONE);
    const req = this.request;
    if (req) {
      this.request = null;
      return this.open(req);
    }
    this.finished = true;
    // ctx.signal (or the gRPC listener's lighter stand-in, see StreamEnd) already aborts on
    // shutdown: a composite AbortSignal.any per held stream only costs memory.
    try {
      const signal = this.ctx.values.get(streamAbortKey)?.signal ?? this.ctx.signal;
      return this.deps.manager.waitFor(this.confirmation!, signal).then(this.answered.bind(this));
    } catch (err) {
      return Promise.reject(err);
    }
  }

  return(): Promise<IteratorResult<RequestConfirmationResponse>> {
    this.finished = true;
    this.request = null;
    return Promise.resolve(DONE);
  }

  private async open(req: RequestConfirmationRequest): Promise<IteratorResult<RequestConfirmationResponse>> {
    try {
      validateKnown(RequestConfirmationRequestSchema, req);
      const confirmation = await this.deps.manager.requestConfirmation({
        taskId: req.taskId,
        title: req.title,
        components: componentsFromProto(req.components),
        requestId: req.requestId,
        timeoutMs: durationToMs(req.timeout),
        attempt: Number(req.attempt),
        answerers: req.answerers,
        timeoutAction: req.timeoutAction,
      });
      this.confirmation = confirmation;
      const value = create(RequestConfirmationResponseSchema, {
        event: { case: "pending", value: { confirmation: confirmationToProto(confirmation) } },
      });
      return { done: false, value };
    } catch (err) {
      // A generator that throws is done.
      this.finished = true;
      throw err;
    }
  }

  private answered(final: Confirmation | null): IteratorResult<RequestConfirmationResponse> | Promise<IteratorResult<RequestConfirmationResponse>> {
    if (!final) {
      if (this.deps.shutdown.aborted) {
        throw new UnavailableError("server is shutting down; call again with the same request_id to re-attach", "SHUTTING_DOWN");
      }
      return DONE;
    }
    return this.deps.manager.currentTask(final.taskId).then((task) => ({ done: false, value: resolved(final, task ?? undefined) }));
  }
}
