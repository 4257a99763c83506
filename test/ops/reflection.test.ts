import assert from "node:assert/strict";
import { after, before, describe, it } from "node:test";
import { create, createFileRegistry, fromBinary, toBinary } from "@bufbuild/protobuf";
import { BinaryReader, BinaryWriter } from "@bufbuild/protobuf/wire";
import { type FileDescriptorProto, FileDescriptorProtoSchema, FileDescriptorSetSchema } from "@bufbuild/protobuf/wkt";
import * as grpc from "@grpc/grpc-js";
import { startTestApp, type TestApp } from "../support/app.js";
import { trackLeaks } from "../support/leaks.js";

/**
 * Server reflection as grpcurl uses it: list the services, then fetch the file descriptors
 * of one and build working message types from them, with no .proto file at hand. The
 * reflection messages are encoded by hand (a handful of fields) to need no generated code.
 */

const leaks = trackLeaks();
let t: TestApp;
before(async () => {
  t = await startTestApp();
});
after(async () => {
  await t.close();
  await leaks.check();
});

type Request = { listServices: string } | { fileContainingSymbol: string } | { fileByFilename: string };
interface Response {
  services: string[];
  files: FileDescriptorProto[];
  error?: { code: number; message: string };
}

function encode(req: Request): Buffer {
  const w = new BinaryWriter();
  if ("listServices" in req) w.tag(7, 2).string(req.listServices);
  else if ("fileContainingSymbol" in req) w.tag(4, 2).string(req.fileContainingSymbol);
  else w.tag(3, 2).string(req.fileByFilename);
  return Buffer.from(w.finish());
}

function decode(buf: Buffer): Response {
  const out: Response = { services: [], files: [] };
  const r = new BinaryReader(buf);
  while (r.pos < r.len) {
    const [field, wire] = r.tag();
    if (field === 4) {
      const inner = new BinaryReader(r.bytes());
      while (inner.pos < inner.len) {
        const [f, w] = inner.tag();
        if (f === 1) out.files.push(fromBinary(FileDescriptorProtoSchema, inner.bytes()));
        else inner.skip(w);
      }
    } else if (field === 6) {
      const list = new BinaryReader(r.bytes());
      while (list.pos < list.len) {
        const [f, w] = list.tag();
        if (f !== 1) {
          list.skip(w);
          continue;
        }
        const svc = new BinaryReader(list.bytes());
        while (svc.pos < svc.len) {
          const [sf, sw] = svc.tag();
          if (sf === 1) out.services.push(svc.string());
          else svc.skip(sw);
        }
      }
    } else if (field === 7) {
      const e = new BinaryReader(r.bytes());
      const error = { code: 0, message: "" };
      while (e.pos < e.len) {
        const [f, w] = e.tag();
        if (f === 1) error.code = e.int32();
        else if (f === 2) error.message = e.string();
        else e.skip(w);
      }
      out.error = error;
    } else r.skip(wire);
  }
  return out;
}

/** One request on the bidirectional ServerReflectionInfo stream of the given version. */
function reflect(version: "v1" | "v1alpha", req: Request): Promise<Response> {
  const client = new grpc.Client(t.app.grpcAddress, grpc.credentials.createInsecure());
  const call = client.makeBidiStreamRequest(
    `/grpc.reflection.${version}.ServerReflection/ServerReflectionInfo`,
    (b: Buffer) => b,
    (b: Buffer) => b,
  );
  return new Promise((resolve, reject) => {
    call.on("data", (b: Buffer) => {
      resolve(decode(b));
      call.end();
      client.close();
    });
    call.on("error", reject);
    call.write(encode(req));
  });
}

describe("server reflection", () => {
  for (const version of ["v1", "v1alpha"] as const) {
    it(`${version}: lists the service and the health service`, async () => {
      const res = await reflect(version, { listServices: "*" });
      assert.ok(res.services.includes("taskcontrol.v1.TaskControlService"), res.services.join(","));
      assert.ok(res.services.includes("grpc.health.v1.Health"), res.services.join(","));
    });
  }

  it("describes the service well enough to build its messages without the .proto files", async () => {
    const res = await reflect("v1", { fileContainingSymbol: "taskcontrol.v1.TaskControlService" });
    const names = new Set(res.files.map((f) => f.name));
    assert.ok(names.has("taskcontrol/v1/task_control_service.proto"));
    // grpcurl then asks for each import it has not seen by file name.
    const have = new Map(res.files.map((f) => [f.name, f] as const));
    const queue = [...res.files];
    while (queue.length > 0) {
      for (const dep of queue.shift()!.dependency) {
        if (have.has(dep)) continue;
        const more = await reflect("v1", { fileByFilename: dep });
        assert.equal(more.error, undefined, `${dep}: ${more.error?.message}`);
        for (const f of more.files) if (!have.has(f.name)) (have.set(f.name, f), queue.push(f));
      }
    }
    // Imports first, as a FileDescriptorSet must list them.
    const ordered: FileDescriptorProto[] = [];
    const place = (f: FileDescriptorProto) => {
      if (ordered.includes(f)) return;
      f.dependency.forEach((d) => place(have.get(d)!));
      ordered.push(f);
    };
    have.forEach(place);
    const registry = createFileRegistry(create(FileDescriptorSetSchema, { file: ordered }));
    const svc = registry.getService("taskcontrol.v1.TaskControlService");
    assert.ok(svc);
    assert.deepEqual(svc.methods.map((m) => m.name).sort(), [
      ...["CancelTask", "ClaimTask", "CompleteTask", "CreateTask", "EmitProgress", "FailTask", "GetTask", "Heartbeat"],
      ...["ListTaskEvents", "ListTasks", "RequestConfirmation", "ResolveConfirmation", "StreamProgress", "UpdateProgress", "WatchTasks"],
    ]);
    // A call made purely from the reflected descriptors works.
    const createTask = svc.methods.find((m) => m.name === "CreateTask")!;
    const bytes = toBinary(createTask.input, create(createTask.input, { owner: "reflected", kind: "k" } as never));
    const answer = await new Promise<Buffer>((resolve, reject) =>
      t.grpc.raw.makeUnaryRequest("/taskcontrol.v1.TaskControlService/CreateTask", (b: Buffer) => b, (b: Buffer) => b, Buffer.from(bytes), (err, r) =>
        err ? reject(err) : resolve(r!),
      ),
    );
    const task = (fromBinary(createTask.output, answer) as unknown as { task: { owner: string } }).task;
    assert.equal(task.owner, "reflected");
  });

  it("answers an unknown symbol with a NOT_FOUND error response, not a broken stream", async () => {
    const res = await reflect("v1", { fileContainingSymbol: "no.such.Thing" });
    assert.equal(res.error?.code, grpc.status.NOT_FOUND);
  });
});
