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
import { createTestDatabase, type TestDatabase } from "./pg.js";

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

/**
 * Starts an app on port 0 with a fresh database (or `db` to reopen one). `postgres: true`, or
 * TASKCONTROL_TEST_DIALECT=postgresql in the environment (how test/postgres runs the e2e
 * suites again), makes that a fresh PostgreSQL database, dropped by close().
 */
export async function startTestApp(
  options: { args?: string[]; db?: string; dir?: string; postgres?: boolean } = {},
): Promise<TestApp> {
  const dir = options.dir ?? mkdtempSync(join(tmpdir(), "taskcontrol-test-"));
  const fresh: TestDatabase | undefined =
    !options.db && (options.postgres ?? process.env.TASKCONTROL_TEST_DIALECT === "postgresql")
      ? await createTestDatabase()
      : undefined;
  const db = options.db ?? fresh?.url ?? process.env.TASKCONTROL_TEST_DB ?? join(dir, "test.sqlite");
  const config = loadConfig({
    argv: ["--grpc-listen", "127.0.0.1:0", "--http-listen", "127.0.0.1:0", "--db", db, ...(options.args ?? [])],
    env: {},
  });
  const app = await createApp(config, { log: createLogger(process.env.TEST_LOG_LEVEL ?? "silent") }).catch(
    async (err: unknown) => {
      await fresh?.drop();
      throw err;
    },
  );
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
      try {
        await app.close();
      } finally {
        await fresh?.drop();
      }
      if (!options.dir && !options.db) rmSync(dir, { recursive: true, force: true });
    },
  };
}
