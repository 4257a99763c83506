import assert from "node:assert/strict";
import { execFile } from "node:child_process";
import { readFileSync, rmSync } from "node:fs";
import { join } from "node:path";
import { after, before, describe, it } from "node:test";
import { startTestApp, type TestApp } from "../support/app.js";
import { type ConstantServer, startConstantServer } from "../support/constant-server.js";
import { trackLeaks } from "../support/leaks.js";
import { ROOT } from "../support/server-process.js";

/** `npm run conformance` as a user runs it: one line per case, the summary, the exit code. */
const leaks = trackLeaks();
let app: TestApp;
let wrong: ConstantServer;

before(async () => {
  app = await startTestApp();
  wrong = await startConstantServer();
});
after(async () => {
  await wrong.close();
  await app.close();
  await leaks.check();
});

function conformance(args: string[]): Promise<{ code: number; stdout: string }> {
  return new Promise((resolve) => {
    execFile("npm", ["run", "-s", "conformance", "--", ...args], { cwd: ROOT }, (err, stdout) =>
      resolve({ code: err ? Number((err as { code?: number }).code ?? 1) : 0, stdout }),
    );
  });
}

describe("npm run conformance", () => {
  it("exits 0 with a line per case and the summary when every case passes", async () => {
    const junit = join(app.dir, "report.xml");
    const r = await conformance(["--target", `http://${app.app.grpcAddress}`, "--protocol", "grpc", "--cases", "tasks/*", "--junit", junit]);
    const lines = r.stdout.trim().split("\n");
    assert.equal(r.code, 0, r.stdout);
    assert.ok(lines.slice(0, -1).every((l) => /^PASS tasks\/[a-z0-9-]+ \(\d+ ms\)$/.test(l)), r.stdout);
    assert.equal(lines.at(-1), `${lines.length - 1} passed, 0 failed`);
    const xml = readFileSync(junit, "utf8");
    assert.match(xml, new RegExp(`<testsuite name="taskcontrol conformance \\(grpc\\)" tests="${lines.length - 1}" failures="0"`));
    rmSync(junit);
  });

  it("exits 1 and names each failure against a wrong server", async () => {
    const r = await conformance(["--target", wrong.url, "--protocol", "connect", "--cases", "progress/*"]);
    const lines = r.stdout.trim().split("\n");
    assert.equal(r.code, 1, r.stdout);
    assert.ok(lines.slice(0, -1).every((l) => /^FAIL progress\/[a-z0-9-]+ \(\d+ ms\): step \d+/.test(l.split("\n")[0]!) || /^ {5}/.test(l)), r.stdout);
    assert.match(lines.at(-1)!, /^0 passed, \d+ failed$/);
  });

  it("exits 2 on a usage error", async () => {
    const r = await conformance(["--protocol", "smoke-signals"]);
    assert.equal(r.code, 2);
  });
});
