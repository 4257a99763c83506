import type { GrpcTestClient } from "./grpc-client.js";
import type { CreateTaskResponse, GetTaskResponse } from "../../gen/taskcontrol/v1/task_control_service_pb.js";

/**
 * Never run: `tsc -p tsconfig.test.json` (npm run lint, and before each commit) fails if the
 * typed test client stops rejecting what a @ts-expect-error line below does.
 */
export async function typecheck(c: GrpcTestClient): Promise<void> {
  const created = await c.unary("CreateTask", { owner: "o", kind: "k" });
  const id: string = created.task!.id;
  await c.unary<CreateTaskResponse>("CreateTask", { owner: "o" });
  // @ts-expect-error: no such method
  await c.unary("CreateTsk", { owner: "o" });
  // @ts-expect-error: no such field on CreateTaskRequest
  await c.unary("CreateTask", { ownr: "o" });
  // @ts-expect-error: progress is a number
  await c.unary("UpdateProgress", { taskId: id, progress: "0.5" });
  // @ts-expect-error: the response of CreateTask is not GetTaskResponse
  await c.unary<GetTaskResponse>("CreateTask", { owner: "o" });
  // @ts-expect-error: WatchTasks is a server stream, not a unary call
  await c.unary("WatchTasks", {});
  const { responses } = c.serverStream("WatchTasks", { owner: "o", includeSnapshot: true });
  for await (const e of responses) {
    const seq: bigint = e.sequence;
    void seq;
  }
  // @ts-expect-error: oneof cases are checked too
  c.serverStream("RequestConfirmation", { taskId: id, components: [{ id: "b", kind: { case: "buton", value: {} } }] });
  await c.clientStream("StreamProgress", [{ message: { case: "emit", value: { taskId: id, label: "x" } } }]);
}
