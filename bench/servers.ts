/**
 * Reference servers of the benchmark, each run as its own child process so that it has the
 * same process conditions as the real service:
 *
 *   node --import tsx bench/servers.ts bare    bare @grpc/grpc-js server for the generated
 *                                               TaskControlService answering constants
 *   node --import tsx bench/servers.ts naive   UpdateProgress as fork/findOne/assign/flush per
 *                                               call (MikroORM unit of work), same schema
 *
 * Both print `bench serving grpc=127.0.0.1:PORT` once listening, and exit on SIGTERM.
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import type { DescMessage } from "@bufbuild/protobuf";
import * as grpc from "@grpc/grpc-js";
import { LIMITS } from "../src/domain/limits.js";
import { openDatabase } from "../src/store/orm.js";
import { TaskSchema as TaskRowSchema, type TaskRow } from "../src/store/schema.js";
import { benchTaskRow } from "./lib.js";
import {
  CreateTaskResponseSchema,
  EmitProgressResponseSchema,
  HeartbeatResponseSchema,
  RequestConfirmationResponseSchema,
  StreamProgressResponseSchema,
  TaskControlService,
  UpdateProgressRequestSchema,
  UpdateProgressResponseSchema,
  WatchTasksResponseSchema,
} from "../gen/taskcontrol/v1/task_control_service_pb.js";
import { TaskStatus } from "../gen/taskcontrol/v1/task_pb.js";

const mode = process.argv[2] ?? "bare";

const encode = <S extends DescMessage>(schema: S, init: object): Buffer => {
  const b = toBinary(schema, create(schema, init as never));
  return Buffer.from(b.buffer, b.byteOffset, b.byteLength);
};
const identity = (b: Buffer) => b;

/** grpc-js definition of the generated service: requests decoded, responses pre-encoded Buffers. */
function definition(): grpc.ServiceDefinition {
  const def: Record<string, grpc.MethodDefinition<unknown, unknown>> = {};
  for (const m of TaskControlService.methods) {
    def[m.name] = {
      path: `/${TaskControlService.typeName}/${m.name}`,
      requestStream: m.methodKind === "client_streaming" || m.methodKind === "bidi_streaming",
      responseStream: m.methodKind === "server_streaming" || m.methodKind === "bidi_streaming",
      requestSerialize: (v: unknown) => v as Buffer,
      requestDeserialize: (b: Buffer) => fromBinary(m.input, b),
      responseSerialize: identity as (v: unknown) => Buffer,
      responseDeserialize: identity,
      originalName: m.localName,
    };
  }
  return def as grpc.ServiceDefinition;
}

function bareHandlers(): grpc.UntypedServiceImplementation {
  const task = {
    id: "t-00000000-0000-0000-0000-000000000000",
    owner: "bench",
    kind: "bench",
    label: "constant",
    status: TaskStatus.RUNNING,
    revision: 1n,
  };
  const CREATE = encode(CreateTaskResponseSchema, { task });
  const UPDATE = encode(UpdateProgressResponseSchema, { found: true, applied: true, status: TaskStatus.RUNNING });
  const EMIT = encode(EmitProgressResponseSchema, { found: true, status: TaskStatus.RUNNING });
  const HEARTBEAT = encode(HeartbeatResponseSchema, { found: true, status: TaskStatus.RUNNING });
  const SNAPSHOT_END = encode(WatchTasksResponseSchema, { sequence: 1n, event: { case: "snapshotEnd", value: {} } });
  const PENDING = encode(RequestConfirmationResponseSchema, {
    event: { case: "pending", value: { confirmation: { id: "c-0", taskId: task.id, title: "constant" } } },
  });
  const unary = (answer: Buffer) => (_call: unknown, cb: grpc.sendUnaryData<Buffer>) => cb(null, answer);
  const hold = (first: Buffer) => (call: grpc.ServerWritableStream<unknown, Buffer>) => {
    call.write(first);
    // Held open until the client goes away, like an idle watch or a pending confirmation.
    call.on("cancelled", () => undefined);
  };
  return {
    CreateTask: unary(CREATE),
    UpdateProgress: unary(UPDATE),
    EmitProgress: unary(EMIT),
    Heartbeat: unary(HEARTBEAT),
    StreamProgress: (call: grpc.ServerReadableStream<unknown, Buffer>, cb: grpc.sendUnaryData<Buffer>) => {
      let n = 0;
      call.on("data", () => n++);
      call.on("end", () => cb(null, encode(StreamProgressResponseSchema, { received: BigInt(n), updated: BigInt(n) })));
      call.on("error", () => undefined);
    },
    WatchTasks: hold(SNAPSHOT_END),
    RequestConfirmation: hold(PENDING),
  };
}

async function naiveHandlers(): Promise<{ handlers: grpc.UntypedServiceImplementation; close(): Promise<void> }> {
  const dir = mkdtempSync(join(tmpdir(), "taskcontrol-bench-naive-"));
  const db = await openDatabase({ db: join(dir, "naive.sqlite"), durability: "normal" });
  const now = Date.now();
  const rows = Array.from({ length: Number(process.env.BENCH_NAIVE_TASKS ?? 1000) }, (_, i) => benchTaskRow({ id: `naive-${i}`, create_time: now, update_time: now }));
  await db.orm.em.fork().insertMany(TaskRowSchema, rows);
  const NOT_FOUND = encode(UpdateProgressResponseSchema, { found: false });
  type Req = ReturnType<typeof fromBinary<typeof UpdateProgressRequestSchema>>;
  return {
    handlers: {
      UpdateProgress: (call: grpc.ServerUnaryCall<Req, Buffer>, cb: grpc.sendUnaryData<Buffer>) => {
        const req = call.request;
        (async () => {
          // The naive unit of work: a fresh EntityManager, a SELECT, an UPDATE in its own
          // transaction (one fsync-bounded commit per call), then the answer.
          const em = db.orm.em.fork();
          const row = await em.findOne(TaskRowSchema, { id: req.taskId });
          if (!row) return NOT_FOUND;
          if (row.status !== "running" && row.status !== "waiting_confirmation") {
            return encode(UpdateProgressResponseSchema, { found: true, applied: false });
          }
          const patch: Partial<TaskRow> = {
            progress: Math.min(1, Math.max(0, req.progress)),
            update_time: Date.now(),
            revision: row.revision + 1,
          };
          if (req.label !== undefined) patch.label = req.label;
          if (req.checkpoint !== undefined) patch.checkpoint = JSON.stringify(req.checkpoint);
          em.assign(row, patch);
          await em.flush();
          return encode(UpdateProgressResponseSchema, {
            found: true,
            applied: true,
            status: TaskStatus.RUNNING,
            cancelRequested: row.cancel_requested,
          });
        })().then(
          (b) => cb(null, b),
          (err) => cb({ code: grpc.status.INTERNAL, details: String(err) }),
        );
      },
    },
    async close() {
      await db.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

async function main(): Promise<void> {
  const server = new grpc.Server({
    "grpc.max_receive_message_length": LIMITS.messageBytes,
    "grpc.max_send_message_length": LIMITS.messageBytes,
  });
  let close = async () => undefined as void;
  if (mode === "bare") {
    server.addService(definition(), bareHandlers());
  } else if (mode === "naive") {
    const naive = await naiveHandlers();
    close = naive.close;
    server.addService(definition(), naive.handlers);
  } else {
    throw new Error(`unknown mode ${mode}`);
  }
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync("127.0.0.1:0", grpc.ServerCredentials.createInsecure(), (err, p) => (err ? reject(err) : resolve(p))),
  );
  console.log(`bench serving grpc=127.0.0.1:${port}`);
  const stop = () => {
    server.forceShutdown();
    close().finally(() => process.exit(0));
  };
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);
}

main().catch((err) => {
  console.error(err);
  process.exit(2);
});
