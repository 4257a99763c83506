// docs/contract.md's stub commands marked "checked" run as written (in a scratch directory
// holding a copy of proto/) and write the service's stubs; the COMMENTS lint rules are on.
import assert from "node:assert/strict";
import { execFileSync } from "node:child_process";
import { cpSync, mkdtempSync, readdirSync, readFileSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import { ROOT } from "../support/server-process.js";

const doc = readFileSync(join(ROOT, "docs/contract.md"), "utf8");
const checked = [...doc.matchAll(/<!-- checked -->\n```sh\n([\s\S]*?)```/g)].map((m) => m[1]!);
const scratch = mkdtempSync(join(tmpdir(), "taskcontrol-stubs-"));
cpSync(join(ROOT, "proto"), join(scratch, "proto"), { recursive: true });
after(() => rmSync(scratch, { recursive: true, force: true }));

const files = (dir: string): string[] =>
  readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? files(join(dir, e.name)) : [join(dir, e.name)]));

describe("docs/contract.md", () => {
  it("has the checked blocks for C++, Python, Ruby and Java", () => {
    assert.deepEqual(checked.map((b) => /stubs\/(\w+)/.exec(b)?.[1]), ["cpp", "python", "ruby", "java"]);
  });

  for (const block of checked) {
    const lang = /stubs\/(\w+)/.exec(block)?.[1] ?? "?";
    it(`generates the ${lang} stubs of the service and of google.rpc as written`, () => {
      execFileSync("sh", ["-eu", "-c", block], { cwd: scratch, stdio: "pipe" });
      const written = files(join(scratch, "stubs", lang)).map((f) => f.slice(scratch.length + 1));
      assert.ok(written.some((f) => /task_control_service|TaskControlService/.test(f)), written.join("\n"));
      assert.ok(written.some((f) => /error_details|ErrorInfo/.test(f)), written.join("\n"));
    });
  }

  it("buf lint runs the COMMENTS rules", () => {
    assert.match(readFileSync(join(ROOT, "buf.yaml"), "utf8"), /use:\n\s+- STANDARD\n\s+- COMMENTS\n/);
  });
});
