import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { create, equals, toBinary } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { HeartbeatResponseSchema, UpdateProgressResponseSchema } from "../../gen/taskcontrol/v1/task_control_service_pb.js";
import { TaskStatus } from "../../gen/taskcontrol/v1/task_pb.js";
import { heartbeatAnswer, updateAnswer } from "../../src/service/progress-answers.js";

/** The answers made once and reused: frozen, and field for field what create() would build. */
describe("progress answers", () => {
  it("give a heartbeat the answer of its outcome, its lease expiry included", () => {
    const running = { found: true, status: "running" as const, cancelRequested: false, leaseExpireTime: 1_700_000_000_123 };
    const a = heartbeatAnswer(running);
    assert.ok(Object.isFrozen(a) && Object.isFrozen(a.leaseExpireTime));
    const expected = create(HeartbeatResponseSchema, {
      found: true,
      status: TaskStatus.RUNNING,
      cancelRequested: false,
      leaseExpireTime: timestampFromMs(1_700_000_000_123),
    });
    assert.ok(equals(HeartbeatResponseSchema, a, expected));
    assert.deepEqual(toBinary(HeartbeatResponseSchema, a), toBinary(HeartbeatResponseSchema, expected));
    // The same outcome again (another task, same millisecond, same lease): the same answer.
    assert.equal(heartbeatAnswer({ ...running }), a);
    // Another expiry, another status or flag: an answer of its own.
    const later = heartbeatAnswer({ ...running, leaseExpireTime: 1_700_000_000_124 });
    assert.notEqual(later, a);
    assert.ok(equals(HeartbeatResponseSchema, later, { ...expected, leaseExpireTime: timestampFromMs(1_700_000_000_124) }));
    const cancelled = heartbeatAnswer({ ...running, cancelRequested: true });
    assert.equal(cancelled.cancelRequested, true);
    assert.ok(equals(HeartbeatResponseSchema, cancelled, { ...expected, cancelRequested: true }));
    // Back to the first outcome after another expiry: built again, still right.
    assert.ok(equals(HeartbeatResponseSchema, heartbeatAnswer(running), expected));
  });

  it("leave the lease expiry unset when the task has no lease or is not found", () => {
    const none = heartbeatAnswer({ found: false, status: null, cancelRequested: false, leaseExpireTime: null });
    assert.ok(equals(HeartbeatResponseSchema, none, create(HeartbeatResponseSchema, { found: false, status: TaskStatus.UNSPECIFIED })));
    assert.equal(none.leaseExpireTime, undefined);
    const unleased = heartbeatAnswer({ found: true, status: "succeeded", cancelRequested: false, leaseExpireTime: null });
    assert.equal(unleased.leaseExpireTime, undefined);
    assert.equal(unleased.status, TaskStatus.SUCCEEDED);
  });

  it("give an update the answer of its outcome", () => {
    const a = updateAnswer({ found: true, applied: true, status: "running", cancelRequested: true });
    assert.ok(Object.isFrozen(a));
    assert.ok(equals(UpdateProgressResponseSchema, a, create(UpdateProgressResponseSchema, { found: true, applied: true, status: TaskStatus.RUNNING, cancelRequested: true })));
  });
});
