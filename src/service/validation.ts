import type { DescField, DescMessage, DescOneof } from "@bufbuild/protobuf";
import type { Duration } from "@bufbuild/protobuf/wkt";
import { type FieldViolation, InvalidArgumentError, NotFoundError } from "../domain/errors.js";
import { idProblem, LIMITS, structProblem, textProblem } from "../domain/limits.js";
import { patternProblem } from "../domain/rules.js";
import { days, n, ROLES, type Rule, VALIDATION } from "./validation-rules.js";
import type { JsonObject } from "../domain/model.js";

/**
 * The one validation layer: every request message's shape and limits, as a table of field →
 * rule, checked once at the service edge before the task manager is called. A check reports
 * every bad field as its own BadRequest violation, by request path (`owner`,
 * `components[2].id`, `task_ids[3]`). The README's limits table is generated from this table
 * (scripts/docs.ts) and a unit test holds the proto comments to it. The domain keeps only the
 * checks that need state (an answer against the stored components, transitions, request ids).
 */

/** Most violations collected from one message (the status carries fewer still). */
const MAX_VIOLATIONS = 100;

/** What a valid request names that cannot exist: a malformed task or confirmation id. */
export interface Checked {
  readonly unknown?: { readonly to: "task" | "confirmation"; readonly field: string };
}

const PACKAGE = "taskcontrol.v1.";

interface Pass {
  violations: FieldViolation[];
  unknown?: Checked["unknown"];
}

/**
 * Checks `message` (of `schema`) against the table. Throws INVALID_ARGUMENT listing every bad
 * field under `prefix` (e.g. `messages[3].`); returns what it names that cannot exist.
 */
export function validate(schema: DescMessage, message: object, prefix = ""): Checked {
  const pass: Pass = { violations: [] };
  checkMessage(schema, message as Record<string, unknown>, prefix, pass);
  if (pass.violations.length > 0) throw new InvalidArgumentError(pass.violations);
  return pass.unknown ? { unknown: pass.unknown } : NOTHING_UNKNOWN;
}

/** What validate() answers for a request that names nothing that cannot exist. */
const NOTHING_UNKNOWN: Checked = Object.freeze({});

/** validate(), then NOT_FOUND (TASK_NOT_FOUND / CONFIRMATION_NOT_FOUND) for a malformed id. */
export function validateKnown(schema: DescMessage, message: object): void {
  const { unknown } = validate(schema, message);
  if (unknown?.to === "task") throw new NotFoundError("task not found");
  if (unknown) throw new NotFoundError("confirmation not found", "CONFIRMATION_NOT_FOUND");
}

/** The number of tasks a ListTasks page holds for a (validated) page_size. */
export function pageLimit(pageSize: number): number {
  return Math.min(pageSize || LIMITS.defaultPageSize, LIMITS.maxPageSize);
}

/** The number of events a ListTaskEvents page holds for a (validated) page_size. */
export function eventPageLimit(pageSize: number): number {
  return Math.min(pageSize || LIMITS.defaultEventPageSize, LIMITS.maxPageSize);
}

/**
 * A message's member with its row of the table, and for a field whether it holds a message of
 * this package (which has rows of its own; Struct and Duration are rules): made once per type.
 */
interface Row {
  readonly member: DescMessage["members"][number];
  readonly rule: Rule | undefined;
  readonly nested: boolean;
}

const rowsByType = new WeakMap<DescMessage, readonly Row[]>();

function rowsOf(schema: DescMessage): readonly Row[] {
  let rows = rowsByType.get(schema);
  if (!rows) {
    const rules = VALIDATION[schema.typeName.slice(PACKAGE.length)] ?? {};
    rows = schema.members.map((member) => ({
      member,
      rule: rules[member.name],
      nested: member.kind === "field" && member.message !== undefined && member.message.typeName.startsWith(PACKAGE),
    }));
    rowsByType.set(schema, rows);
  }
  return rows;
}

function checkMessage(schema: DescMessage, msg: Record<string, unknown>, path: string, pass: Pass): void {
  for (const { member, rule, nested } of rowsOf(schema)) {
    if (pass.violations.length >= MAX_VIOLATIONS) return;
    if (member.kind === "oneof") checkOneof(member, rule, msg, path, pass);
    else checkField(member, rule, nested, msg, path, pass);
  }
}

function checkOneof(oneof: DescOneof, rule: Rule | undefined, msg: Record<string, unknown>, path: string, pass: Pass): void {
  const chosen = msg[oneof.localName] as { case?: string; value?: unknown } | undefined;
  const field = oneof.fields.find((f) => f.localName === chosen?.case);
  if (!field) {
    if (rule?.kind === "oneof") {
      pass.violations.push({ field: path + oneof.name, description: `one of ${oneof.fields.map((f) => f.name).join(", ")} is required` });
    }
    return;
  }
  if (field.fieldKind === "message" && chosen?.value) {
    const inner = rule?.kind === "oneof" && rule.flat ? path : `${path}${field.name}.`;
    checkMessage(field.message, chosen.value as Record<string, unknown>, inner, pass);
  }
}

function checkField(field: DescField, rule: Rule | undefined, nested: boolean, msg: Record<string, unknown>, path: string, pass: Pass): void {
  const at = path + field.name;
  const value = msg[field.localName];
  if (rule) {
    const problem = ruleProblem(rule, value, at, msg, pass);
    if (problem) pass.violations.push({ field: at, description: problem });
  }
  // Messages of this package have rows of their own (Struct, Duration are rules above).
  if (nested && field.message) {
    if (field.fieldKind === "list") {
      (value as Record<string, unknown>[]).forEach((v, i) => checkMessage(field.message, v, `${at}[${i}].`, pass));
    } else if (field.fieldKind === "message" && value) {
      checkMessage(field.message, value as Record<string, unknown>, `${at}.`, pass);
    }
  }
}

/** What is wrong with `value` under `rule`, or undefined; list rules push per-item violations. */
function ruleProblem(rule: Rule, value: unknown, at: string, msg: Record<string, unknown>, pass: Pass): string | undefined {
  switch (rule.kind) {
    case "ref": {
      const id = value as string;
      if (id === "") return "is required";
      if (idProblem(id) && !pass.unknown) pass.unknown = { to: rule.to, field: at };
      return undefined;
    }
    case "key":
      return !rule.required && value === "" ? undefined : idProblem(value as string);
    case "text":
      if (value === undefined) return undefined;
      if (rule.required && value === "") return "is required";
      return textProblem(value as string, rule.max);
    case "struct":
      return structProblem(value as JsonObject | undefined);
    case "fraction":
      return typeof value === "number" && Number.isNaN(value) ? "is NaN" : undefined;
    case "repeated": {
      const list = value as unknown[];
      if (list.length > rule.max) return `more than ${rule.max} ${rule.unit}`;
      if (rule.min !== undefined && list.length < rule.min) return `at least ${rule.min} required`;
      if (rule.each) {
        const each = rule.each;
        list.forEach((item, i) => {
          const problem = ruleProblem(each, item, `${at}[${i}]`, msg, pass);
          if (problem) pass.violations.push({ field: `${at}[${i}]`, description: problem });
        });
      }
      return undefined;
    }
    case "duration": {
      const d = value as Duration | undefined;
      if (!d) return undefined;
      if (d.seconds < 0n || d.nanos < 0 || d.nanos > 999_999_999) return "must be a non-negative duration";
      if (d.seconds * 1000n + BigInt(Math.ceil(d.nanos / 1e6)) > BigInt(rule.maxMs)) return `is longer than ${days(rule.maxMs)} days`;
      return undefined;
    }
    case "lease": {
      const d = value as Duration | undefined;
      if (!d || (d.seconds === 0n && d.nanos === 0)) return undefined;
      if (d.seconds < 0n || d.nanos < 0 || d.nanos > 999_999_999) return "must be a non-negative duration";
      const ms = Number(d.seconds) * 1000 + d.nanos / 1e6;
      if (ms < rule.minMs) return `is shorter than ${rule.minMs / 1000} s`;
      if (ms > rule.maxMs) return `is longer than ${rule.maxMs / 3_600_000} h`;
      return undefined;
    }
    case "attempt":
      return (value as bigint) < 0n ? "must not be negative" : undefined;
    case "page_size":
      return (value as number) < 0 ? "must not be negative" : undefined;
    case "sequence":
      return value !== undefined && (value as bigint) < 0n ? "must not be negative" : undefined;
    case "components":
      return componentsProblem(rule, value as ComponentLike[], at, pass);
    case "oneof":
      return undefined;
    case "choice": {
      const among = msg[rule.among] as { value: string }[];
      return value === "" || among.some((o) => o.value === value) ? undefined : `is not one of the ${rule.among}`;
    }
    case "answerer":
      return answererProblem(value as string, rule.max);
    case "timeout_action":
      return timeoutActionProblem(value as string, msg);
    case "count": {
      const v = value as number;
      return v < 0 || v > rule.max ? `must be 0-${n(rule.max)}` : undefined;
    }
    case "pattern": {
      const v = value as string;
      if (v === "") return undefined;
      return textProblem(v, rule.max) ?? patternProblem(v);
    }
    case "number":
      return numberProblem(rule, value as number | undefined, msg);
  }
}

function answererProblem(entry: string, max: number): string | undefined {
  if (entry.trim() === "") return "is empty";
  const basic = textProblem(entry, max);
  if (basic) return basic;
  if (entry.startsWith("role:") && !ROLES.has(entry.slice("role:".length))) {
    return `names no role; expected role:${[...ROLES].join(", role:")}`;
  }
  return undefined;
}

function timeoutActionProblem(action: string, msg: Record<string, unknown>): string | undefined {
  if (action === "") return undefined;
  const buttons = (msg.components as ComponentLike[]).flatMap((c) => (c.kind.case === "button" ? [c.kind.value as { action: string }] : []));
  if (!buttons.some((b) => b.action === action)) return `"${action}" is not the action of one of the buttons`;
  const timeout = msg.timeout as Duration | undefined;
  if (!timeout || (timeout.seconds === 0n && timeout.nanos === 0)) return "needs a timeout: without one it is never taken";
  return undefined;
}

function numberProblem(rule: Extract<Rule, { kind: "number" }>, value: number | undefined, msg: Record<string, unknown>): string | undefined {
  if (value === undefined) return undefined;
  if (!Number.isFinite(value)) return "must be a finite number";
  if (rule.positive && value <= 0) return "must be above 0";
  const sibling = (name: string) => {
    const v = msg[name] as number | undefined;
    return v !== undefined && Number.isFinite(v) ? v : undefined;
  };
  const floor = rule.atLeast === undefined ? undefined : sibling(rule.atLeast);
  if (floor !== undefined && value < floor) return `must not be below ${rule.atLeast} (${floor})`;
  if (rule.within) {
    const [lo, hi] = rule.within.map(sibling);
    if ((lo !== undefined && value < lo) || (hi !== undefined && value > hi)) return `must be within ${rule.within.join(" and ")}`;
  }
  return undefined;
}

interface ComponentLike {
  id: string;
  kind: { case?: string; value?: unknown };
}

const NOT_INPUTS: ReadonlySet<string | undefined> = new Set(["text", "button", undefined]);

/**
 * Count, unique ids, at least one button; a button's value has no key equal to an input's id
 * (the clicked button's value is merged into the answer: nothing may override an input), and
 * buttons sharing an action carry the same value. Each component's fields have their rows.
 */
function componentsProblem(rule: { min: number; max: number }, components: ComponentLike[], at: string, pass: Pass): string | undefined {
  if (components.length < rule.min) return "at least one component is required";
  if (components.length > rule.max) return `more than ${rule.max} components`;
  const seen = new Set<string>();
  components.forEach((c, i) => {
    if (c.id !== "" && seen.has(c.id)) pass.violations.push({ field: `${at}[${i}].id`, description: `duplicate component id "${c.id}"` });
    seen.add(c.id);
  });
  const inputIds = new Set(components.filter((c) => !NOT_INPUTS.has(c.kind.case)).map((c) => c.id));
  const valueOfAction = new Map<string, string>();
  components.forEach((c, i) => {
    if (c.kind.case !== "button") return;
    const b = c.kind.value as { action: string; value?: JsonObject };
    const clash = Object.keys(b.value ?? {}).filter((k) => inputIds.has(k));
    if (clash.length > 0) {
      pass.violations.push({ field: `${at}[${i}].button.value`, description: `keys ${clash.map((k) => JSON.stringify(k)).join(", ")} are input component ids` });
    }
    const value = JSON.stringify(b.value ?? null);
    const earlier = valueOfAction.get(b.action);
    if (earlier !== undefined && earlier !== value) {
      pass.violations.push({ field: `${at}[${i}].button.value`, description: `differs from the value of another button with action "${b.action}"` });
    }
    valueOfAction.set(b.action, value);
  });
  return components.some((c) => c.kind.case === "button") ? undefined : "at least one button is required";
}
