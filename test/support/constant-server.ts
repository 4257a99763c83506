import * as http2 from "node:http2";
import type { AddressInfo } from "node:net";
import type { ServiceImpl } from "@connectrpc/connect";
import { connectNodeAdapter } from "@connectrpc/connect-node";
import { TaskControlService } from "../../gen/taskcontrol/v1/task_control_service_pb.js";
import { ConfirmationState, TaskStatus } from "../../gen/taskcontrol/v1/task_pb.js";

/**
 * A deliberately wrong TaskControlService: every method answers a constant, whatever it is
 * asked (one task, always RUNNING; one confirmation, always answered "ok"; a watch that only
 * ends its empty snapshot). It speaks the real protocols (gRPC, Connect, gRPC-Web over h2c)
 * so a conformance run against it reaches the cases and must fail them.
 */
export interface ConstantServer {
  /** http://127.0.0.1:PORT */
  readonly url: string;
  close(): Promise<void>;
}

export async function startConstantServer(): Promise<ConstantServer> {
  const task = { id: "t-constant", owner: "constant", status: TaskStatus.RUNNING, revision: 1n, attempt: 1n };
  const confirmation = { id: "c-constant", taskId: task.id, state: ConfirmationState.ANSWERED, action: "ok" };
  const impl: ServiceImpl<typeof TaskControlService> = {
    createTask: () => ({ task }),
    getTask: () => ({ task }),
    listTasks: () => ({ tasks: [task] }),
    updateProgress: () => ({ found: true, applied: true, status: TaskStatus.RUNNING }),
    emitProgress: () => ({ found: true, status: TaskStatus.RUNNING }),
    async streamProgress(requests) {
      let n = 0n;
      for await (const _ of requests) n++;
      return { received: n, updated: n };
    },
    async *requestConfirmation() {
      yield { event: { case: "pending", value: { confirmation: { ...confirmation, state: ConfirmationState.PENDING } } } };
      yield { event: { case: "resolved", value: { confirmationId: confirmation.id, outcome: ConfirmationState.ANSWERED, action: "ok" } } };
    },
    resolveConfirmation: () => ({ confirmation }),
    completeTask: () => ({ task }),
    failTask: () => ({ task }),
    cancelTask: () => ({ task }),
    async *watchTasks() {
      yield { sequence: 1n, event: { case: "snapshotEnd", value: {} } };
    },
    heartbeat: () => ({ found: true, status: TaskStatus.RUNNING }),
    claimTask: () => ({ task }),
    listTaskEvents: () => ({ events: [] }),
  };
  const server = http2.createServer(connectNodeAdapter({ routes: (router) => router.service(TaskControlService, impl) }));
  const sessions = new Set<http2.ServerHttp2Session>();
  server.on("session", (s) => {
    sessions.add(s);
    s.once("close", () => sessions.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, "127.0.0.1", resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    close: () =>
      new Promise<void>((resolve) => {
        for (const s of sessions) s.destroy();
        server.close(() => resolve());
      }),
  };
}
