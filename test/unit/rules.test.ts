import assert from "node:assert/strict";
import { confirmationFixture } from "../support/fixtures.js";
import { describe, it } from "node:test";
import type { InvalidArgumentError } from "../../src/domain/errors.js";
import { idProblem, structProblem } from "../../src/domain/limits.js";
import type { Component, Confirmation } from "../../src/domain/model.js";
import { clampProgress, validateAnswer } from "../../src/domain/rules.js";

const button = (id: string, action = `act.${id}`): Component => ({ id, kind: "button", label: id, action, style: "unspecified" });

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
      { id: "name", kind: "text_input", label: "", placeholder: "", defaultValue: "", required: true },
      { id: "flag", kind: "checkbox", label: "", defaultValue: false },
    ],
  });
  it("accepts an offered action with typed values", () => validateAnswer(c, "act.ok", { name: "n", flag: true }));
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
});
