import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createClient } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import { type App, createApp } from "../../src/app.js";
import { loadConfig } from "../../src/config.js";
import { createLogger } from "../../src/log.js";
import { TaskControlService } from "../../gen/taskcontrol/v1/task_control_service_pb.js";
import { grpcClient, type GrpcTestClient } from "./grpc-client.js";

/** An in-process server on a throwaway SQLite file, with both kinds of client. */
export interface TestApp {
  readonly app: App;
  readonly dir: string;
  readonly db: string;
  /** @grpc/grpc-js client on the gRPC listener. */
  readonly grpc: GrpcTestClient;
  /** connect client over the Connect protocol, HTTP/1.1, on the HTTP listener. */
  readonly connect: ReturnType<typeof createClient<typeof TaskControlService>>;
  close(): Promise<void>;
}

/** Starts an app on port 0 with a fresh database (or `db` to reopen one). */
export async function startTestApp(options: { args?: string[]; db?: string; dir?: string } = {}): Promise<TestApp> {
  const dir = options.dir ?? mkdtempSync(join(tmpdir(), "taskcontrol-test-"));
  const db = options.db ?? process.env.TASKCONTROL_TEST_DB ?? join(dir, "test.sqlite");
  const config = loadConfig({
    argv: ["--grpc-listen", "127.0.0.1:0", "--http-listen", "127.0.0.1:0", "--db", db, ...(options.args ?? [])],
    env: {},
  });
  const app = await createApp(config, { log: createLogger(process.env.TEST_LOG_LEVEL ?? "silent") });
  const grpc = grpcClient(app.grpcAddress);
  const connect = createClient(
    TaskControlService,
    createConnectTransport({ baseUrl: `http://${app.httpAddress}`, httpVersion: "1.1" }),
  );
  return {
    app,
    dir,
    db,
    grpc,
    connect,
    async close() {
      grpc.close();
      await app.close();
      if (!options.dir && !options.db) rmSync(dir, { recursive: true, force: true });
    },
  };
}
