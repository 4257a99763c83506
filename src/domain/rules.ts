import { FailedPreconditionError, type FieldViolation, InvalidArgumentError } from "./errors.js";
import { LIMITS, textProblem } from "./limits.js";
import type { Component, Confirmation, JsonObject, JsonValue, Task } from "./model.js";
import { isTerminal } from "./model.js";

/**
 * Clamps a progress value into [0, 1] as the reference page specifies; ±Infinity clamp.
 * NaN carries no meaning to clamp: the service edge refuses it (src/service/validation.ts).
 */
export function clampProgress(value: number): number {
  return Math.min(1, Math.max(0, value));
}

/** Throws FAILED_PRECONDITION when a terminal task is asked to change. */
export function assertNotTerminal(task: Task, what: string): void {
  if (isTerminal(task.status)) {
    throw new FailedPreconditionError(`task ${task.id} is ${task.status}; cannot ${what}`, "ILLEGAL_TRANSITION", {
      task_status: `TASK_STATUS_${task.status.toUpperCase()}`,
    });
  }
}

/**
 * Validates an answer against its surface: the action must be one of the buttons' actions,
 * every value key an input component of the right type, required inputs present. The only
 * check of a request that needs state (the stored components); every bad field is reported.
 */
export function validateAnswer(confirmation: Confirmation, action: string, values: JsonObject): void {
  const violations: FieldViolation[] = [];
  const buttons = confirmation.components.filter((c) => c.kind === "button");
  if (!buttons.some((b) => b.action === action)) {
    violations.push({
      field: "action",
      description: `"${action}" is not offered; expected one of ${buttons.map((b) => JSON.stringify(b.action)).join(", ")}`,
    });
  }
  const inputs = new Map(confirmation.components.map((c) => [c.id, c] as const));
  for (const [key, value] of Object.entries(values)) {
    const c = inputs.get(key);
    const problem =
      !c || c.kind === "text" || c.kind === "button" ? "is not an input component of this confirmation" : inputValueProblem(c, value);
    if (problem) violations.push({ field: `values.${key}`, description: problem });
  }
  for (const c of confirmation.components) {
    if (c.kind === "text_input" && c.required) {
      const v = values[c.id];
      if (typeof v !== "string" || v.trim() === "") {
        if (!violations.some((x) => x.field === `values.${c.id}`)) violations.push({ field: `values.${c.id}`, description: "is required" });
      }
    }
  }
  if (violations.length > 0) throw new InvalidArgumentError(violations);
}

function inputValueProblem(c: Component, value: JsonValue): string | undefined {
  switch (c.kind) {
    case "text_input":
      return typeof value !== "string" ? "must be a string" : textProblem(value, LIMITS.textLength);
    case "select":
      return typeof value !== "string" || !c.options.some((o) => o.value === value)
        ? "must be one of the select's option values"
        : undefined;
    case "checkbox":
      return typeof value !== "boolean" ? "must be a bool" : undefined;
    default:
      return undefined;
  }
}
