import assert from "node:assert/strict";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { describe, it } from "node:test";
import { loadCases, type Step, verbOf } from "../../conformance/src/cases.js";
import { resolve, StepFailure } from "../../conformance/src/engine.js";
import { mismatch } from "../../conformance/src/match.js";
import { CLIENT_CASES, SERVER_CASES } from "../../conformance/src/run.js";
import { ROOT } from "../support/server-process.js";

describe("conformance kit: matching", () => {
  it("matches objects partially and arrays exactly", () => {
    assert.equal(mismatch({ a: 1, b: 2 }, { a: 1 }), undefined);
    assert.match(mismatch({ a: 1 }, { a: 2 })!, /^a: expected 2, got 1/);
    assert.match(mismatch({ a: [1, 2] }, { a: [1] })!, /expected 1 elements, got 2/);
    assert.match(mismatch({}, { a: "x" })!, /got \(unset\)/);
  });
  it("takes an int64 string for the number it spells, and nothing else", () => {
    assert.equal(mismatch({ revision: "3" }, { revision: 3 }), undefined);
    assert.notEqual(mismatch({ revision: "4" }, { revision: 3 }), undefined);
    assert.notEqual(mismatch({ label: "3" }, { label: "03" }), undefined);
  });
  it("applies the operators", () => {
    assert.equal(mismatch({ s: "10" }, { s: { $gt: "9" } }), undefined);
    assert.notEqual(mismatch({ s: "9" }, { s: { $gt: "9" } }), undefined);
    assert.equal(mismatch({}, { t: { $absent: true } }), undefined);
    assert.notEqual(mismatch({ t: "x" }, { t: { $absent: true } }), undefined);
    assert.equal(mismatch({ t: "x" }, { t: { $present: true } }), undefined);
    assert.notEqual(mismatch({ id: "" }, { id: { $nonEmpty: true } }), undefined);
    assert.equal(mismatch({ l: [{ id: "a" }, { id: "b" }] }, { l: { $contains: [{ id: "b" }] } }), undefined);
    assert.notEqual(mismatch({ l: [{ id: "a" }] }, { l: { $contains: [{ id: "b" }] } }), undefined);
    assert.equal(mismatch({ s: "confirm:c-1" }, { s: { $matches: "^confirm:" } }), undefined);
    assert.equal(mismatch("b", { $oneOf: ["a", "b"] }), undefined);
    assert.notEqual(mismatch("c", { $oneOf: ["a", "b"] }), undefined);
    assert.equal(mismatch([1, 2], { $len: 2 }), undefined);
    assert.notEqual(mismatch(1, { $ne: 1 }), undefined);
  });
});

describe("conformance kit: variables", () => {
  const vars = { task: { id: "t-1", revision: "2" }, owner: "alice" };
  it("substitutes whole values keeping their type, and inside strings", () => {
    assert.deepEqual(resolve({ id: "${task.id}", t: "${task}", s: "of ${owner}" }, vars), {
      id: "t-1",
      t: { id: "t-1", revision: "2" },
      s: "of alice",
    });
  });
  it("expands $repeat and $add", () => {
    assert.equal(resolve({ $repeat: ["ab", 3] }, vars), "ababab");
    assert.equal(resolve({ $add: ["${task.revision}", 1000000000000] }, vars), "1000000000002");
  });
  it("refuses a variable never saved", () => {
    assert.throws(() => resolve("${nope.id}", vars), StepFailure);
  });
});

describe("conformance kit: the case files", () => {
  it("hold at least 60 server cases with unique ids, in every area", () => {
    const cases = loadCases(SERVER_CASES);
    assert.ok(cases.length >= 60, `${cases.length} cases`);
    assert.equal(new Set(cases.map((c) => c.id)).size, cases.length);
    const areas = new Set(cases.map((c) => c.id.split("/")[0]));
    for (const area of ["progress", "confirmations", "decisions", "watch", "leases", "retries", "errors", "history", "tasks"]) {
      assert.ok(areas.has(area), `no ${area} cases`);
    }
  });
  it("hold the client scenarios", () => {
    assert.ok(loadCases(CLIENT_CASES).length >= 10);
  });
  it("select by glob over case ids", () => {
    const watch = loadCases(SERVER_CASES, "watch/*");
    assert.ok(watch.length > 0 && watch.every((c) => c.id.startsWith("watch/")));
  });
  it("reject a step with two verbs or a key its verb does not take", () => {
    assert.throws(() => verbOf({ call: "GetTask", open: "WatchTasks" } as unknown as Step, "s"), /exactly one/);
    assert.throws(() => verbOf({ call: "GetTask", as: "x" } as unknown as Step, "s"), /does not take as/);
  });
});

describe("conformance kit: independence", () => {
  it("imports nothing of the server (only gen/ and wire libraries)", () => {
    const files = (dir: string): string[] =>
      readdirSync(dir).flatMap((n) => (statSync(join(dir, n)).isDirectory() ? files(join(dir, n)) : n.endsWith(".ts") ? [join(dir, n)] : []));
    const offenders = files(join(ROOT, "conformance")).flatMap((f) =>
      [...readFileSync(f, "utf8").matchAll(/(?:from|import\()\s*["']([^"']+)["']/g)]
        .map((m) => m[1]!)
        .filter((s) => /(^|\/)src\//.test(s) || /\.\.\/\.\.\/(test|bench|scripts)\//.test(s))
        .map((s) => `${relative(ROOT, f)} → ${s}`),
    );
    assert.deepEqual(offenders, []);
  });
});
