import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { InvalidArgumentError } from "../../src/domain/errors.js";
import { checkId, checkStruct } from "../../src/domain/limits.js";
import type { Component, Confirmation } from "../../src/domain/model.js";
import { clampProgress, validateAnswer, validateComponents } from "../../src/domain/rules.js";

const button = (id: string, action = `act.${id}`): Component => ({ id, kind: "button", label: id, action, style: "unspecified" });

describe("clampProgress", () => {
  it("clamps into [0, 1] and refuses NaN", () => {
    assert.deepEqual([-1, 0, 0.5, 1, 2, Infinity, -Infinity].map((v) => clampProgress("p", v)), [0, 0, 0.5, 1, 1, 1, 0]);
    assert.throws(() => clampProgress("progress", NaN), InvalidArgumentError);
  });
});

describe("validateComponents", () => {
  it("accepts the page's Text + two Buttons", () => {
    validateComponents([{ id: "t", kind: "text", text: "Replace it?" }, button("a"), button("b")]);
  });
  it("refuses empty, button-less, duplicate-id and oversized surfaces", () => {
    assert.throws(() => validateComponents([]), /at least one component/);
    assert.throws(() => validateComponents([{ id: "t", kind: "text", text: "x" }]), /at least one button/);
    assert.throws(() => validateComponents([button("a"), button("a")]), /duplicate/);
    assert.throws(() => validateComponents([{ id: "t", kind: "text", text: "x".repeat(4097) }, button("a")]), /longer than 4096/);
    assert.throws(
      () => validateComponents([button("a"), { id: "s", kind: "select", label: "", options: [], defaultValue: "" }]),
      /at least one option/,
    );
  });
});

describe("validateAnswer", () => {
  const c: Confirmation = {
    id: "c-1",
    taskId: "t-1",
    owner: "o",
    surfaceId: "confirm:c-1",
    title: "",
    components: [
      button("ok"),
      { id: "name", kind: "text_input", label: "", placeholder: "", defaultValue: "", required: true },
      { id: "flag", kind: "checkbox", label: "", defaultValue: false },
    ],
    state: "pending",
    action: "",
    values: null,
    requestId: null,
    createTime: 0,
    expireTime: null,
    resolveTime: null,
  };
  it("accepts an offered action with typed values", () => validateAnswer(c, "act.ok", { name: "n", flag: true }));
  it("refuses unknown actions, unknown keys, wrong types and missing required inputs", () => {
    assert.throws(() => validateAnswer(c, "act.other", { name: "n" }), /not offered/);
    assert.throws(() => validateAnswer(c, "act.ok", { name: "n", ok: "x" }), /values.ok/);
    assert.throws(() => validateAnswer(c, "act.ok", { name: "n", flag: "yes" }), /must be a bool/);
    assert.throws(() => validateAnswer(c, "act.ok", { name: "  " }), /values.name: is required/);
  });
});

describe("limits", () => {
  it("bounds ids and struct payloads", () => {
    checkId("id", "t-0123:abc@x.y_z");
    assert.throws(() => checkId("id", ""), /required/);
    assert.throws(() => checkId("id", "a".repeat(129)), /longer than 128/);
    assert.throws(() => checkId("id", "a b"), /may only contain/);
    let deep: Record<string, unknown> = {};
    const root = deep;
    for (let i = 0; i < 40; i++) deep = (deep.x = {}) as Record<string, unknown>;
    assert.throws(() => checkStruct("checkpoint", root as never), /nested deeper than 32/);
    assert.throws(() => checkStruct("checkpoint", { big: "x".repeat(70_000) }), /bytes as JSON/);
  });
});
