import assert from "node:assert/strict";
import { describe, it } from "node:test";
import type { Confirmation } from "../../src/domain/model.js";
import { confirmationToRow, rowToConfirmation, rowToEvent } from "../../src/store/row-mapping.js";
import type { ConfirmationRow } from "../../src/store/schema.js";
import { confirmationFixture, domainComponent as dc } from "../support/fixtures.js";

/**
 * Rows and event payloads written before issue 14 lack its fields: they read as what they
 * meant (no button value, no input rules, anyone may answer, no default, nobody recorded).
 */

const LEGACY_COMPONENTS = [
  { id: "b", kind: "button", label: "Go", action: "go", style: "primary" },
  { id: "t", kind: "text_input", label: "", placeholder: "", defaultValue: "", required: true },
  { id: "s", kind: "select", label: "", options: [{ value: "a", label: "a" }], defaultValue: "" },
];

describe("row mapping of confirmations", () => {
  it("round-trips every field of a current confirmation", () => {
    const c: Confirmation = confirmationFixture({
      components: [dc.button("b", { value: { x: 1 } }), dc.textInput("t", { pattern: "[a-z]+", maxLength: 3 }), dc.numberInput("n", { min: 1 })],
      state: "expired",
      action: "act.b",
      values: { x: 1 },
      answerers: ["alice-ui", "role:gateway"],
      timeoutAction: "act.b",
      answerTime: 5,
      resolveTime: 5,
      defaulted: true,
    });
    assert.deepEqual(rowToConfirmation(confirmationToRow(c)), c);
  });

  it("reads a row of the first schema with the defaults (the migration's column defaults too)", () => {
    const row = {
      ...confirmationToRow(confirmationFixture()),
      components: JSON.stringify(LEGACY_COMPONENTS),
      answerers: "[]",
      timeout_action: "",
      answered_by: "",
      answer_time: null,
      defaulted: 0,
    } as unknown as ConfirmationRow;
    const c = rowToConfirmation(row);
    assert.deepEqual(c.components, [
      dc.button("b", { label: "Go", action: "go", style: "primary" }),
      dc.textInput("t", { required: true }),
      dc.select("s", ["a"]),
    ]);
    assert.deepEqual([c.answerers, c.timeoutAction, c.answeredBy, c.answerTime, c.defaulted], [[], "", "", null, false]);
  });

  it("reads a confirmation event logged before the fields existed", () => {
    const old = { ...confirmationFixture(), components: LEGACY_COMPONENTS } as Record<string, unknown>;
    for (const k of ["answerers", "timeoutAction", "answeredBy", "answerTime", "defaulted"]) delete old[k];
    const e = rowToEvent({ sequence: 7, time: 1, task_id: "t", owner: "o", type: "confirmation_requested", payload: JSON.stringify({ type: "confirmation_requested", confirmation: old }) });
    assert.ok(e.event.type === "confirmation_requested");
    const c = e.event.confirmation;
    assert.deepEqual([c.answerers, c.timeoutAction, c.answeredBy, c.answerTime, c.defaulted], [[], "", "", null, false]);
    assert.deepEqual(c.components[0], dc.button("b", { label: "Go", action: "go", style: "primary" }));
  });
});
