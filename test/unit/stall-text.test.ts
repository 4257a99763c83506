import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { create } from "@bufbuild/protobuf";
import { timestampFromMs } from "@bufbuild/protobuf/wkt";
import { describeTask, taskLine } from "../../src/cli/render.js";
import { stallText, statusText, type TaskEntry } from "../../src/client/task-state.js";
import { TaskSchema, TaskStatus } from "../../gen/taskcontrol/v1/task_pb.js";

/** STALLED as a person reads it, in taskctl and the monitor (both use src/client/task-state.ts). */

const NOW = Date.UTC(2026, 11, 1, 12, 0, 0);
const stalled = create(TaskSchema, {
  id: "t-1",
  label: "Importing",
  status: TaskStatus.STALLED,
  attempt: 2n,
  leaseDuration: { seconds: 10n, nanos: 0 },
  // The last call was 63 s ago: its lease ran out 53 s ago.
  leaseExpireTime: timestampFromMs(NOW - 53_000),
  stallTime: timestampFromMs(NOW - 53_000),
  progress: 0.6,
});

describe("STALLED shown plainly", () => {
  it("says how long the worker has been silent and which attempt it was", () => {
    assert.equal(statusText(TaskStatus.STALLED), "stalled");
    assert.equal(stallText(stalled, NOW), "no word from the worker for 63 s (attempt 2)");
    assert.equal(stallText({ ...stalled, status: TaskStatus.RUNNING }, NOW), "");
  });

  it("taskctl's line and `get` carry it", () => {
    const entry: TaskEntry = { task: stalled, shownProgress: 0.6, liveLine: "rows 600", liveTime: undefined };
    const line = taskLine(entry, 120);
    assert.match(line, /stalled .*Importing {2}› no word from the worker for \d+ s \(attempt 2\)/);
    const text = describeTask(stalled);
    assert.match(text, /^status: +stalled$/m);
    assert.match(text, /^attempt: +2$/m);
    assert.match(text, /^stalled: +no word from the worker for \d+ s \(attempt 2\)$/m);
  });
});
