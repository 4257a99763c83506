// Every client takes the same server forms: host:port, http://host:port, https://host:port.
// taskctl through its launcher against a real server process; a bad address is one line, exit 2.
import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { taskctlDone } from "../cli/harness.js";
import { startServerProcess, type ServerProcess } from "../support/server-process.js";

describe("taskctl --server / TASKCONTROL_ADDRESS", () => {
  const dir = mkdtempSync(join(tmpdir(), "taskcontrol-address-"));
  let server: ServerProcess;
  before(async () => {
    server = await startServerProcess({ db: join(dir, "t.sqlite") });
  });
  after(async () => {
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  });

  for (const form of ["host:port", "http://host:port", "http://host:port/"]) {
    it(`reaches the server given as ${form}`, async () => {
      const address = form.replace("host:port", server.grpcAddress);
      const byFlag = await taskctlDone(["list", "--server", address]);
      assert.equal(byFlag.code, 0, byFlag.stderr);
      const byEnv = await taskctlDone(["list"], { TASKCONTROL_ADDRESS: address });
      assert.equal(byEnv.code, 0, byEnv.stderr);
    });
  }

  for (const bad of ["127.0.0.1", "ftp://127.0.0.1:1", "http://127.0.0.1:1/api", "127.0.0.1:99999"]) {
    it(`refuses ${JSON.stringify(bad)} in one line, exit 2`, async () => {
      for (const res of [
        await taskctlDone(["list", "--server", bad]),
        await taskctlDone(["list"], { TASKCONTROL_ADDRESS: bad }),
      ]) {
        const lines = res.stderr.split("\n").filter((l) => l.trim() !== "");
        assert.equal(res.code, 2, res.stderr);
        assert.match(lines[0]!, /^taskctl: .*(--server|TASKCONTROL_ADDRESS)/);
        assert.doesNotMatch(res.stderr, /\n\s+at /);
      }
    });
  }
});
