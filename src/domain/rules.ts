import { FailedPreconditionError, InvalidArgumentError } from "./errors.js";
import { checkId, checkText, LIMITS } from "./limits.js";
import type { Component, Confirmation, JsonObject, JsonValue, Task } from "./model.js";
import { isTerminal } from "./model.js";

/**
 * Clamps a progress value into [0, 1] as the reference page specifies; ±Infinity clamp,
 * NaN is refused because it carries no meaning to clamp.
 */
export function clampProgress(field: string, value: number): number {
  if (Number.isNaN(value)) throw new InvalidArgumentError(field, "is NaN");
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
 * Validates a confirmation surface: 1-64 components, ids well-formed and unique, at least
 * one button, every button with an action, sizes bounded.
 */
export function validateComponents(components: readonly Component[]): void {
  if (components.length === 0) throw new InvalidArgumentError("components", "at least one component is required");
  if (components.length > LIMITS.components) {
    throw new InvalidArgumentError("components", `more than ${LIMITS.components} components`);
  }
  const ids = new Set<string>();
  let buttons = 0;
  components.forEach((c, i) => {
    const at = `components[${i}]`;
    checkId(`${at}.id`, c.id);
    if (ids.has(c.id)) throw new InvalidArgumentError(`${at}.id`, `duplicate component id "${c.id}"`);
    ids.add(c.id);
    switch (c.kind) {
      case "text":
        checkText(`${at}.text.text`, c.text, LIMITS.textLength);
        break;
      case "button":
        buttons++;
        checkText(`${at}.button.label`, c.label, LIMITS.labelLength);
        checkId(`${at}.button.action`, c.action);
        break;
      case "text_input":
        checkText(`${at}.text_input.label`, c.label, LIMITS.labelLength);
        checkText(`${at}.text_input.placeholder`, c.placeholder, LIMITS.labelLength);
        checkText(`${at}.text_input.default_value`, c.defaultValue, LIMITS.textLength);
        break;
      case "select":
        checkText(`${at}.select.label`, c.label, LIMITS.labelLength);
        if (c.options.length === 0) throw new InvalidArgumentError(`${at}.select.options`, "at least one option is required");
        if (c.options.length > LIMITS.selectOptions) {
          throw new InvalidArgumentError(`${at}.select.options`, `more than ${LIMITS.selectOptions} options`);
        }
        c.options.forEach((o, j) => {
          checkText(`${at}.select.options[${j}].value`, o.value, LIMITS.labelLength);
          checkText(`${at}.select.options[${j}].label`, o.label, LIMITS.labelLength);
        });
        if (c.defaultValue !== "" && !c.options.some((o) => o.value === c.defaultValue)) {
          throw new InvalidArgumentError(`${at}.select.default_value`, "is not one of the options");
        }
        break;
      case "checkbox":
        checkText(`${at}.checkbox.label`, c.label, LIMITS.labelLength);
        break;
    }
  });
  if (buttons === 0) throw new InvalidArgumentError("components", "at least one button is required");
}

/**
 * Validates an answer against its surface: the action must be one of the buttons' actions,
 * every value key an input component of the right type, required inputs present.
 */
export function validateAnswer(confirmation: Confirmation, action: string, values: JsonObject): void {
  const buttons = confirmation.components.filter((c) => c.kind === "button");
  if (!buttons.some((b) => b.action === action)) {
    throw new InvalidArgumentError(
      "action",
      `"${action}" is not offered; expected one of ${buttons.map((b) => JSON.stringify(b.action)).join(", ")}`,
    );
  }
  const inputs = new Map(confirmation.components.map((c) => [c.id, c] as const));
  for (const [key, value] of Object.entries(values)) {
    const c = inputs.get(key);
    if (!c || c.kind === "text" || c.kind === "button") {
      throw new InvalidArgumentError(`values.${key}`, "is not an input component of this confirmation");
    }
    checkInputValue(`values.${key}`, c, value);
  }
  for (const c of confirmation.components) {
    if (c.kind === "text_input" && c.required) {
      const v = values[c.id];
      if (typeof v !== "string" || v.trim() === "") throw new InvalidArgumentError(`values.${c.id}`, "is required");
    }
  }
}

function checkInputValue(field: string, c: Component, value: JsonValue): void {
  switch (c.kind) {
    case "text_input":
      if (typeof value !== "string") throw new InvalidArgumentError(field, "must be a string");
      checkText(field, value, LIMITS.textLength);
      return;
    case "select":
      if (typeof value !== "string" || !c.options.some((o) => o.value === value)) {
        throw new InvalidArgumentError(field, "must be one of the select's option values");
      }
      return;
    case "checkbox":
      if (typeof value !== "boolean") throw new InvalidArgumentError(field, "must be a bool");
      return;
  }
}
