import { isDeepStrictEqual } from "node:util";
import { LRUCache } from "lru-cache";
import { RE2JS } from "re2js";
import { FailedPreconditionError, type FieldViolation, InvalidArgumentError, PermissionDeniedError } from "./errors.js";
import { LIMITS, textProblem } from "./limits.js";
import type { Component, Confirmation, InputComponent, JsonObject, JsonValue, Task } from "./model.js";
import { isInput, isTerminal } from "./model.js";

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
 * Compiled TextInput patterns. RE2 matches in time linear in the input whatever the pattern
 * (no backtracking), so a worker-supplied pattern cannot stall the server on an answer.
 */
const patterns = new LRUCache<string, RE2JS>({ max: 256 });

function compiled(pattern: string): RE2JS {
  let re = patterns.get(pattern);
  if (!re) {
    re = RE2JS.compile(pattern);
    patterns.set(pattern, re);
  }
  return re;
}

/** What is wrong with a TextInput pattern (not RE2 syntax), or undefined. */
export function patternProblem(pattern: string): string | undefined {
  try {
    compiled(pattern);
    return undefined;
  } catch (err) {
    return `is not a valid RE2 pattern: ${(err as Error).message}`;
  }
}

/** The button an answer's action names (the first, when buttons share an action). */
function buttonOf(confirmation: Confirmation, action: string): Extract<Component, { kind: "button" }> | undefined {
  for (const c of confirmation.components) if (c.kind === "button" && c.action === action) return c;
  return undefined;
}

/**
 * Validates an answer against its surface and returns the values to store: the inputs'
 * values with the clicked button's value merged in (their keys are disjoint: checked at
 * RequestConfirmation). The action must be one of the buttons' actions, every value key an
 * input component and its value obey that input's rules, required inputs present. Every bad
 * field is reported, on `action` or `values.<component id>`.
 */
export function validateAnswer(confirmation: Confirmation, action: string, values: JsonObject): JsonObject {
  const violations: FieldViolation[] = [];
  const button = buttonOf(confirmation, action);
  if (!button) {
    const buttons = confirmation.components.filter((c) => c.kind === "button");
    violations.push({
      field: "action",
      description: `"${action}" is not offered; expected one of ${buttons.map((b) => JSON.stringify(b.action)).join(", ")}`,
    });
  }
  const inputs = new Map(confirmation.components.map((c) => [c.id, c] as const));
  for (const [key, value] of Object.entries(values)) {
    const c = inputs.get(key);
    const problem = !c || !isInput(c) ? "is not an input component of this confirmation" : inputValueProblem(c, value);
    if (problem) violations.push({ field: `values.${key}`, description: problem });
  }
  for (const c of confirmation.components) {
    if (!isInput(c) || !(c.kind === "checkbox" ? false : c.required) || violations.some((x) => x.field === `values.${c.id}`)) continue;
    if (missing(c, values[c.id])) violations.push({ field: `values.${c.id}`, description: "is required" });
  }
  if (violations.length > 0) throw new InvalidArgumentError(violations);
  return { ...values, ...(button?.value ?? {}) };
}

/** True when a required input has no usable value (a blank text, no choice, no number). */
function missing(c: InputComponent, v: JsonValue | undefined): boolean {
  switch (c.kind) {
    case "text_input":
      return typeof v !== "string" || v.trim() === "";
    case "select":
      return c.multiple ? !Array.isArray(v) || v.length === 0 : typeof v !== "string" || v === "";
    case "number_input":
      return typeof v !== "number";
    case "checkbox":
      return v === undefined;
  }
}

function inputValueProblem(c: InputComponent, value: JsonValue): string | undefined {
  switch (c.kind) {
    case "text_input":
      return typeof value !== "string" ? "must be a string" : textValueProblem(c, value);
    case "select":
      return selectValueProblem(c, value);
    case "checkbox":
      return typeof value !== "boolean" ? "must be a bool" : undefined;
    case "number_input":
      return numberValueProblem(c, value);
  }
}

function textValueProblem(c: Extract<Component, { kind: "text_input" }>, value: string): string | undefined {
  const basic = textProblem(value, LIMITS.textLength);
  if (basic) return basic;
  const max = c.maxLength > 0 ? c.maxLength : LIMITS.textLength;
  // Characters are code points, as Python's len() counts them.
  const length = [...value].length;
  if (length > max) return `is ${length} characters; at most ${max}`;
  // An empty optional value is not held to the pattern (a required one is reported as required).
  if (c.pattern !== "" && value !== "" && !compiled(c.pattern).matches(value)) {
    return c.patternDescription || `does not match the pattern ${c.pattern}`;
  }
  return undefined;
}

function selectValueProblem(c: Extract<Component, { kind: "select" }>, value: JsonValue): string | undefined {
  const offered = (v: JsonValue) => typeof v === "string" && c.options.some((o) => o.value === v);
  if (!c.multiple) return offered(value) ? undefined : "must be one of the select's option values";
  if (!Array.isArray(value)) return "must be a list of the select's option values";
  if (!value.every(offered)) return "must hold only the select's option values";
  if (new Set(value).size !== value.length) return "must not choose an option twice";
  return undefined;
}

function numberValueProblem(c: Extract<Component, { kind: "number_input" }>, value: JsonValue): string | undefined {
  if (typeof value !== "number" || !Number.isFinite(value)) return "must be a finite number";
  if (c.min !== null && value < c.min) return `must be at least ${c.min}`;
  if (c.max !== null && value > c.max) return `must be at most ${c.max}`;
  if (c.step !== null && !onStep(value, c.min ?? 0, c.step)) return `must be ${c.min ?? 0} plus a multiple of ${c.step}`;
  return undefined;
}

/** True when value = base + k·step for a whole k, allowing for binary rounding (0.1 + 0.2). */
function onStep(value: number, base: number, step: number): boolean {
  const k = (value - base) / step;
  return Math.abs(k - Math.round(k)) <= 1e-9 * Math.max(1, Math.abs(k));
}

/** Who is answering, in domain terms (the service's principal). */
export interface Answerer {
  readonly name: string;
  readonly role: string;
}

/**
 * Refuses (PERMISSION_DENIED, NOT_AN_ANSWERER) a caller the confirmation's answerers do not
 * name, by name or by `role:<role>`. An empty list keeps the default rule (whoever may see
 * the task and call ResolveConfirmation); admins may always answer.
 */
export function assertMayAnswer(confirmation: Confirmation, who: Answerer): void {
  const list = confirmation.answerers;
  if (list.length === 0 || who.role === "admin") return;
  if (list.includes(who.name) || list.includes(`role:${who.role}`)) return;
  throw new PermissionDeniedError(`principal ${who.name} may not answer confirmation ${confirmation.id}`, "NOT_AN_ANSWERER", {
    confirmation_id: confirmation.id,
  });
}

/**
 * A safe retry of an answer: the same action and (merged) values by the same principal on a
 * confirmation already answered that way. Anything else on an ended confirmation is refused.
 */
export function isSameAnswer(confirmation: Confirmation, who: Answerer, action: string, merged: JsonObject): boolean {
  return (
    confirmation.state === "answered" &&
    confirmation.answeredBy === who.name &&
    confirmation.action === action &&
    isDeepStrictEqual(confirmation.values ?? {}, merged)
  );
}

/** What the timeout takes as the answer: timeoutAction with its button's value; null for none. */
export function timeoutAnswer(confirmation: Confirmation): { action: string; values: JsonObject } | null {
  if (confirmation.timeoutAction === "") return null;
  const button = buttonOf(confirmation, confirmation.timeoutAction);
  return { action: confirmation.timeoutAction, values: { ...(button?.value ?? {}) } };
}
