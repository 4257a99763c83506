import assert from "node:assert/strict";
import { confirmationFixture, domainComponent as dc } from "../support/fixtures.js";
import { describe, it } from "node:test";
import type { DomainError, InvalidArgumentError } from "../../src/domain/errors.js";
import { idProblem, LIMITS, structProblem } from "../../src/domain/limits.js";
import type { Component, Confirmation } from "../../src/domain/model.js";
import {
  assertMayAnswer,
  clampProgress,
  isSameAnswer,
  patternProblem,
  timeoutAnswer,
  validateAnswer,
} from "../../src/domain/rules.js";

const button = (id: string, action = `act.${id}`): Component => dc.button(id, { action });

describe("clampProgress", () => {
  it("clamps into [0, 1], infinities included (NaN is refused at the edge: validation.test.ts)", () => {
    assert.deepEqual([-1, 0, 0.5, 1, 2, Infinity, -Infinity].map(clampProgress), [0, 0, 0.5, 1, 1, 1, 0]);
  });
});

describe("validateAnswer", () => {
  const c: Confirmation = confirmationFixture({
    taskId: "t-1",
    components: [
      button("ok"),
      dc.textInput("name", { required: true }),
      { id: "flag", kind: "checkbox", label: "", defaultValue: false },
    ],
  });
  it("accepts an offered action with typed values", () => {
    assert.deepEqual(validateAnswer(c, "act.ok", { name: "n", flag: true }), { name: "n", flag: true });
  });
  it("refuses unknown actions, unknown keys, wrong types and missing required inputs", () => {
    assert.throws(() => validateAnswer(c, "act.other", { name: "n" }), /not offered/);
    assert.throws(() => validateAnswer(c, "act.ok", { name: "n", ok: "x" }), /values.ok/);
    assert.throws(() => validateAnswer(c, "act.ok", { name: "n", flag: "yes" }), /must be a bool/);
    assert.throws(() => validateAnswer(c, "act.ok", { name: "  " }), /values.name: is required/);
  });
  it("reports every bad field of an answer, each once", () => {
    assert.throws(
      () => validateAnswer(c, "act.other", { flag: "yes", other: 1 }),
      (err: InvalidArgumentError) =>
        assert.deepEqual(err.violations.map((v) => v.field), ["action", "values.flag", "values.other", "values.name"]) === undefined,
    );
  });
});

/** The fields an answer is refused on (with their descriptions), [] when it is accepted. */
function refused(c: Confirmation, action: string, values: Record<string, never> | object): string[] {
  try {
    validateAnswer(c, action, values as never);
    return [];
  } catch (err) {
    return (err as InvalidArgumentError).violations.map((v) => `${v.field}: ${v.description}`);
  }
}

describe("button values", () => {
  const c = confirmationFixture({
    components: [
      dc.button("replace", { action: "replace", value: { replace_existing: true, mode: "hard" } }),
      dc.button("keep", { action: "keep" }),
      dc.textInput("note"),
    ],
  });
  it("merges the clicked button's value into the answer's values", () => {
    assert.deepEqual(validateAnswer(c, "replace", { note: "x" }), { note: "x", replace_existing: true, mode: "hard" });
    assert.deepEqual(validateAnswer(c, "keep", { note: "x" }), { note: "x" });
  });
  it("refuses an answer that names a button value key as a value (only inputs take values)", () => {
    assert.deepEqual(refused(c, "replace", { replace_existing: false }), ["values.replace_existing: is not an input component of this confirmation"]);
  });
  it("timeoutAnswer takes timeout_action with its button's value, or nothing", () => {
    assert.deepEqual(timeoutAnswer({ ...c, timeoutAction: "replace" }), { action: "replace", values: { replace_existing: true, mode: "hard" } });
    assert.deepEqual(timeoutAnswer({ ...c, timeoutAction: "keep" }), { action: "keep", values: {} });
    assert.equal(timeoutAnswer(c), null);
  });
});

describe("input rules", () => {
  it("text_input: max_length in characters (code points), 0 = the 4,096 limit", () => {
    const c = confirmationFixture({ components: [button("ok"), dc.textInput("n", { maxLength: 3 }), dc.textInput("free")] });
    assert.deepEqual(refused(c, "act.ok", { n: "abc" }), []);
    assert.deepEqual(refused(c, "act.ok", { n: "😀😀😀" }), [], "three code points are three characters");
    assert.deepEqual(refused(c, "act.ok", { n: "abcd" }), ["values.n: is 4 characters; at most 3"]);
    assert.deepEqual(refused(c, "act.ok", { free: "x".repeat(4096) }), []);
    assert.equal(refused(c, "act.ok", { free: "x".repeat(4097) }).length, 1);
  });

  it("text_input: the pattern matches the whole value; an empty optional value is not checked", () => {
    const c = confirmationFixture({
      components: [
        button("ok"),
        dc.textInput("slug", { pattern: "[a-z0-9-]+" }),
        dc.textInput("code", { pattern: "[A-Z]{3}", patternDescription: "three capital letters", required: true }),
      ],
    });
    assert.deepEqual(refused(c, "act.ok", { slug: "my-model-2", code: "ABC" }), []);
    assert.deepEqual(refused(c, "act.ok", { slug: "", code: "ABC" }), []);
    assert.deepEqual(refused(c, "act.ok", { slug: "ok then!", code: "ABCD" }), [
      "values.slug: does not match the pattern [a-z0-9-]+",
      "values.code: three capital letters",
    ]);
    assert.deepEqual(refused(c, "act.ok", {}), ["values.code: is required"]);
  });

  it("text_input: a pattern that backtracks exponentially elsewhere is matched by RE2 (a wrong answer, not a hang)", () => {
    const c = confirmationFixture({ components: [button("ok"), dc.textInput("t", { pattern: "(a+)+b" })] });
    assert.deepEqual(refused(c, "act.ok", { t: `${"a".repeat(4000)}c` }), ["values.t: does not match the pattern (a+)+b"]);
    assert.deepEqual(refused(c, "act.ok", { t: `${"a".repeat(4000)}b` }), []);
  });

  it("patternProblem: RE2 syntax only (no lookaround, no backreferences)", () => {
    assert.equal(patternProblem("^[a-z]+(?:-[a-z]+)*$"), undefined);
    assert.match(patternProblem("(?=x)") ?? "", /not a valid RE2 pattern/);
    assert.match(patternProblem("(a)\\1") ?? "", /not a valid RE2 pattern/);
    assert.match(patternProblem("[") ?? "", /not a valid RE2 pattern/);
  });

  it("select: single is one option value; multiple is a list of distinct ones; required needs a choice", () => {
    const c = confirmationFixture({
      components: [
        button("ok"),
        dc.select("one", ["a", "b"]),
        dc.select("many", ["a", "b", "c"], { multiple: true }),
        dc.select("must", ["x"], { required: true }),
        dc.select("some", ["x", "y"], { multiple: true, required: true }),
      ],
    });
    assert.deepEqual(refused(c, "act.ok", { one: "a", many: ["a", "c"], must: "x", some: ["y"] }), []);
    assert.deepEqual(refused(c, "act.ok", { many: [], must: "x", some: ["x"] }), [], "an optional multiple select may choose none");
    assert.deepEqual(refused(c, "act.ok", { one: ["a"], many: "a", must: "x", some: ["x"] }), [
      "values.one: must be one of the select's option values",
      "values.many: must be a list of the select's option values",
    ]);
    assert.deepEqual(refused(c, "act.ok", { many: ["a", "z"], must: "x", some: ["x", "x"] }), [
      "values.many: must hold only the select's option values",
      "values.some: must not choose an option twice",
    ]);
    assert.deepEqual(refused(c, "act.ok", { some: [] }), ["values.must: is required", "values.some: is required"]);
  });

  it("number_input: a finite number within min and max, on the step grid from min (or 0)", () => {
    const c = confirmationFixture({
      components: [
        button("ok"),
        dc.numberInput("workers", { min: 1, max: 8, step: 1, required: true }),
        dc.numberInput("ratio", { step: 0.1 }),
        dc.numberInput("offset", { min: 0.5, step: 2 }),
      ],
    });
    assert.deepEqual(refused(c, "act.ok", { workers: 4, ratio: 0.3, offset: 4.5 }), [], "0.3 is on the 0.1 grid despite binary rounding");
    assert.deepEqual(refused(c, "act.ok", { workers: 0 }), ["values.workers: must be at least 1"]);
    assert.deepEqual(refused(c, "act.ok", { workers: 9 }), ["values.workers: must be at most 8"]);
    assert.deepEqual(refused(c, "act.ok", { workers: 2.5, ratio: 0.35, offset: 3.5 }), [
      "values.workers: must be 1 plus a multiple of 1",
      "values.ratio: must be 0 plus a multiple of 0.1",
      "values.offset: must be 0.5 plus a multiple of 2",
    ]);
    assert.deepEqual(refused(c, "act.ok", { workers: "4" }), ["values.workers: must be a finite number"]);
    assert.deepEqual(refused(c, "act.ok", {}), ["values.workers: is required"]);
  });
});

describe("answerers", () => {
  const named = confirmationFixture({ answerers: ["alice-ui", "role:gateway"] });
  const refusedBy = (c: Confirmation, name: string, role: string) => {
    try {
      assertMayAnswer(c, { name, role });
      return "";
    } catch (err) {
      return `${(err as DomainError).code} ${(err as DomainError).reason}`;
    }
  };
  it("admits the named principals, the named roles and admins; refuses the rest as NOT_AN_ANSWERER", () => {
    assert.equal(refusedBy(named, "alice-ui", "user"), "");
    assert.equal(refusedBy(named, "gateway-7", "gateway"), "");
    assert.equal(refusedBy(named, "ops", "admin"), "");
    assert.equal(refusedBy(named, "carol-ui", "user"), "permission_denied NOT_AN_ANSWERER");
  });
  it("an empty list keeps the default rule: anyone who reached the confirmation", () => {
    assert.equal(refusedBy(confirmationFixture(), "carol-ui", "user"), "");
  });
});

describe("isSameAnswer (safe retry)", () => {
  const answered = confirmationFixture({ state: "answered", action: "go", values: { a: 1, b: [1, 2] }, answeredBy: "alice-ui" });
  const alice = { name: "alice-ui", role: "user" };
  it("is the same action and values (in any key order) by the same principal on an answered confirmation", () => {
    assert.equal(isSameAnswer(answered, alice, "go", { b: [1, 2], a: 1 }), true);
    assert.equal(isSameAnswer(answered, alice, "stop", { a: 1, b: [1, 2] }), false);
    assert.equal(isSameAnswer(answered, alice, "go", { a: 2, b: [1, 2] }), false);
    assert.equal(isSameAnswer(answered, { name: "bob-ui", role: "user" }, "go", { a: 1, b: [1, 2] }), false);
    assert.equal(isSameAnswer({ ...answered, state: "expired" }, alice, "go", { a: 1, b: [1, 2] }), false);
  });
});

describe("limits", () => {
  it("bounds ids and struct payloads", () => {
    assert.equal(idProblem("t-0123:abc@x.y_z"), undefined);
    assert.match(idProblem("") ?? "", /required/);
    assert.match(idProblem("a".repeat(129)) ?? "", /longer than 128/);
    assert.match(idProblem("a b") ?? "", /may only contain/);
    let deep: Record<string, unknown> = {};
    const root = deep;
    for (let i = 0; i < 40; i++) deep = (deep.x = {}) as Record<string, unknown>;
    assert.match(structProblem(root as never) ?? "", /nested deeper than 32/);
    assert.match(structProblem({ big: "x".repeat(70_000) }) ?? "", /bytes as JSON/);
  });

  it("measures a struct as its JSON's UTF-8 bytes, escapes and multi-byte characters included", () => {
    // Few characters, many bytes: \u0001 is six bytes escaped, é two, 😀 four.
    const escaped = "\u0001".repeat(11_000);
    assert.equal(Buffer.byteLength(JSON.stringify({ e: escaped })) > LIMITS.structBytes, true);
    assert.match(structProblem({ e: escaped }) ?? "", /bytes as JSON/);
    assert.match(structProblem({ e: "é".repeat(33_000) }) ?? "", /bytes as JSON/);
    assert.match(structProblem({ e: ["😀".repeat(8_200), "😀".repeat(8_200)] }) ?? "", /bytes as JSON/);
    // Keys count too, and a payload just under the limit passes.
    const keys = Object.fromEntries(Array.from({ length: 3000 }, (_, i) => [`key-${"k".repeat(16)}-${i}`, i]));
    assert.equal(Buffer.byteLength(JSON.stringify(keys)) > LIMITS.structBytes, true);
    assert.match(structProblem(keys) ?? "", /bytes as JSON/);
    const under = { b: "é".repeat((LIMITS.structBytes - 16) / 2) };
    assert.equal(Buffer.byteLength(JSON.stringify(under)) <= LIMITS.structBytes, true);
    assert.equal(structProblem(under), undefined);
  });
});
