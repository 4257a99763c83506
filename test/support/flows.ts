import type { GrpcTestClient } from "./grpc-client.js";
import type { MessageInitShape } from "@bufbuild/protobuf";
import type {
  CreateTaskRequestSchema,
  RequestConfirmationRequestSchema,
  RequestConfirmationResponse,
  WatchTasksRequestSchema,
  WatchTasksResponse,
} from "../../gen/taskcontrol/v1/task_control_service_pb.js";
import type { ComponentSchema, Task } from "../../gen/taskcontrol/v1/task_pb.js";

/** A confirmation component as a request carries it. */
export type ComponentInit = MessageInitShape<typeof ComponentSchema>;
/** Request init shapes the helpers take. */
export type CreateTaskRequestInit = MessageInitShape<typeof CreateTaskRequestSchema>;
export type RequestConfirmationRequestInit = MessageInitShape<typeof RequestConfirmationRequestSchema>;
export type WatchTasksRequestInit = MessageInitShape<typeof WatchTasksRequestSchema>;

/** Components of the reference page's confirmation example: a text and two buttons. */
export const REPLACE_SURFACE: ComponentInit[] = [
  { id: "confirm_text", kind: { case: "text", value: { text: "A model with the same name already exists. Replace it?" } } },
  { id: "confirm_replace", kind: { case: "button", value: { label: "Replace", action: "system.task.confirm_replace" } } },
  { id: "confirm_cancel", kind: { case: "button", value: { label: "Cancel", action: "system.task.confirm_cancel" } } },
];

/** Creates a running task for `owner` over gRPC. */
export async function createTask(c: GrpcTestClient, owner = "alice", extra: Pick<CreateTaskRequestInit, "kind" | "label" | "checkpoint" | "requestId"> = {}): Promise<Task> {
  const res = await c.unary("CreateTask", { owner, kind: "test", label: "start", ...extra });
  return res.task!;
}

/** A held RequestConfirmation call: its messages as they come, and the end of the stream. */
export function holdConfirmation(c: GrpcTestClient, request: RequestConfirmationRequestInit) {
  const { responses, call } = c.serverStream("RequestConfirmation", request);
  const messages: RequestConfirmationResponse[] = [];
  let notify: () => void = () => undefined;
  const done = (async () => {
    for await (const m of responses) {
      messages.push(m);
      notify();
    }
  })();
  done.catch(() => notify());
  return {
    messages,
    call,
    done,
    /** Resolves once `n` messages arrived (or rejects if the stream failed first). */
    async waitFor(n: number, timeoutMs = 5000): Promise<RequestConfirmationResponse[]> {
      const deadline = Date.now() + timeoutMs;
      while (messages.length < n) {
        if (Date.now() > deadline) throw new Error(`timed out waiting for ${n} confirmation messages`);
        const settled = await Promise.race([
          new Promise<"msg">((r) => (notify = () => r("msg"))),
          done.then(() => "end" as const, () => "end" as const),
          new Promise<"tick">((r) => setTimeout(() => r("tick"), 50)),
        ]);
        if (settled === "end" && messages.length < n) await done;
        if (settled === "end" && messages.length < n) throw new Error("stream ended early");
      }
      return messages;
    },
  };
}

/** A WatchTasks stream collecting every event, with a way to wait for a condition. */
export function watch(c: GrpcTestClient, request: WatchTasksRequestInit) {
  const { responses, call } = c.serverStream("WatchTasks", request);
  const events: WatchTasksResponse[] = [];
  let error: unknown;
  const done = (async () => {
    try {
      for await (const e of responses) events.push(e);
    } catch (err) {
      error = err;
    }
  })();
  return {
    events,
    call,
    done,
    get error() {
      return error;
    },
    async until(pred: (events: WatchTasksResponse[]) => boolean, timeoutMs = 5000): Promise<WatchTasksResponse[]> {
      const deadline = Date.now() + timeoutMs;
      while (!pred(events)) {
        if (error) throw error;
        if (Date.now() > deadline) {
          throw new Error(`watch condition not met; got ${events.map((e) => e.event.case).join(",")}`);
        }
        await new Promise((r) => setTimeout(r, 10));
      }
      return events;
    },
    cancel() {
      call.cancel();
    },
  };
}

/**
 * A watch that is certainly subscribed: it asks for a snapshot and resolves once
 * `snapshot_end` arrived, with the snapshot dropped, so `events` holds what came after.
 * The barrier a test needs before acting, instead of sleeping and hoping.
 */
export async function watchLive(c: GrpcTestClient, request: WatchTasksRequestInit) {
  const w = watch(c, { ...request, includeSnapshot: true });
  const events = await w.until((e) => e.some((x) => x.event.case === "snapshotEnd"));
  events.splice(0, events.findIndex((x) => x.event.case === "snapshotEnd") + 1);
  return w;
}

/** The event cases in order, for compact assertions. */
export function cases(events: WatchTasksResponse[]): string[] {
  return events.map((e) => e.event.case ?? "none");
}

/** Waits a little for anything that might (wrongly) still arrive. */
export const settle = (ms = 150) => new Promise((r) => setTimeout(r, ms));

/**
 * Retries a call through a restart window (the channel may still be in reconnect backoff),
 * for up to `withinMs`: a count of tries ran out in about 5 s, shorter than a restart of the
 * server under tsx takes on a loaded two-core machine.
 */
export async function retrying<T>(fn: () => Promise<T>, withinMs = 30_000): Promise<T> {
  const deadline = Date.now() + withinMs;
  for (;;) {
    try {
      return await fn();
    } catch (err) {
      if (Date.now() >= deadline) throw err;
      await new Promise((r) => setTimeout(r, 25));
    }
  }
}

/** True for events that are in the log (not live lines, snapshots or bookmarks). */
export function isPersisted(e: WatchTasksResponse): boolean {
  return (
    e.event.case !== "bookmark" &&
    e.event.case !== "snapshot" &&
    e.event.case !== "snapshotEnd" &&
    !(e.event.case === "progress" && !e.event.value.persisted)
  );
}
