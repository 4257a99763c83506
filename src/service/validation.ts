import type { DescField, DescMessage, DescOneof } from "@bufbuild/protobuf";
import type { Duration } from "@bufbuild/protobuf/wkt";
import { type FieldViolation, InvalidArgumentError, NotFoundError } from "../domain/errors.js";
import { idProblem, LIMITS, structProblem, textProblem } from "../domain/limits.js";
import { patternProblem } from "../domain/rules.js";
import type { Role } from "./principal.js";
import type { JsonObject } from "../domain/model.js";

/**
 * The one validation layer: every request message's shape and limits, as a table of field →
 * rule, checked once at the service edge before the task manager is called. A check reports
 * every bad field as its own BadRequest violation, by request path (`owner`,
 * `components[2].id`, `task_ids[3]`). The README's limits table is generated from this table
 * (scripts/docs.ts) and a unit test holds the proto comments to it. The domain keeps only the
 * checks that need state (an answer against the stored components, transitions, request ids).
 */

/** How one field is checked. Numbers come from domain/limits.ts's LIMITS. */
export type Rule =
  /**
   * A reference to a stored task or confirmation. Ids are opaque: empty is INVALID_ARGUMENT,
   * a malformed one names nothing that exists and is answered as an unknown id.
   */
  | { readonly kind: "ref"; readonly to: "task" | "confirmation" }
  /** An id the caller makes up (request_id, component ids, filters): malformed is INVALID_ARGUMENT. */
  | { readonly kind: "key"; readonly required: boolean }
  | { readonly kind: "text"; readonly max: number; readonly required?: boolean }
  | { readonly kind: "struct"; readonly maxBytes: number; readonly maxDepth: number }
  /** A double that is clamped into [0, 1]: only NaN is refused. */
  | { readonly kind: "fraction" }
  | { readonly kind: "repeated"; readonly min?: number; readonly max: number; readonly each?: Rule; readonly unit: string }
  | { readonly kind: "duration"; readonly maxMs: number }
  /** A lease: unset or zero = none (or the task's own), else between minMs and maxMs. */
  | { readonly kind: "lease"; readonly minMs: number; readonly maxMs: number }
  /** A caller's attempt (int64): not negative; 0 = not checked. */
  | { readonly kind: "attempt" }
  | { readonly kind: "page_size"; readonly fallback: number; readonly max: number }
  | { readonly kind: "sequence" }
  /** A confirmation surface as a whole; each component's fields have their own rows. */
  | { readonly kind: "components"; readonly min: number; readonly max: number }
  /** A oneof that must be set; `flat`: its message's paths are not prefixed by the case name. */
  | { readonly kind: "oneof"; readonly flat?: boolean }
  /** Empty, or the value of one of the sibling list `among`'s items. */
  | { readonly kind: "choice"; readonly among: string }
  /** An answerer: a principal name (at most `max` characters), or `role:<a role>`. */
  | { readonly kind: "answerer"; readonly max: number }
  /** Empty, or the action of one of the request's buttons; set only with a timeout. */
  | { readonly kind: "timeout_action" }
  /** A whole number in [0, max]. */
  | { readonly kind: "count"; readonly max: number }
  /** A regular expression in RE2 syntax (matched in linear time), at most `max` characters. */
  | { readonly kind: "pattern"; readonly max: number }
  /**
   * An optional double: finite; `positive`: above 0; `atLeast`: not below that sibling;
   * `within`: between those two siblings (each when set).
   */
  | { readonly kind: "number"; readonly positive?: boolean; readonly atLeast?: string; readonly within?: readonly [string, string] };

const text = (max: number, required = false): Rule => ({ kind: "text", max, required });
const struct: Rule = { kind: "struct", maxBytes: LIMITS.structBytes, maxDepth: LIMITS.structDepth };
const taskRef: Rule = { kind: "ref", to: "task" };
const optionalKey: Rule = { kind: "key", required: false };
const requiredKey: Rule = { kind: "key", required: true };
const label = text(LIMITS.labelLength);
const lease: Rule = { kind: "lease", minMs: LIMITS.minLeaseMs, maxMs: LIMITS.maxLeaseMs };
const attempt: Rule = { kind: "attempt" };

/**
 * Every request message (and the messages inside them), by its name in taskcontrol.v1, then
 * by proto field name. A field without a row takes any value its type allows.
 */
export const VALIDATION: Readonly<Record<string, Readonly<Record<string, Rule>>>> = {
  CreateTaskRequest: {
    owner: text(LIMITS.ownerLength, true),
    kind: text(LIMITS.kindLength),
    label,
    checkpoint: struct,
    request_id: optionalKey,
    lease_duration: lease,
  },
  GetTaskRequest: { task_id: taskRef },
  ListTasksRequest: {
    owner: text(LIMITS.ownerLength),
    page_size: { kind: "page_size", fallback: LIMITS.defaultPageSize, max: LIMITS.maxPageSize },
  },
  UpdateProgressRequest: { task_id: taskRef, progress: { kind: "fraction" }, checkpoint: struct, label, attempt },
  EmitProgressRequest: { task_id: taskRef, progress: { kind: "fraction" }, label, checkpoint: struct, attempt },
  StreamProgressRequest: { message: { kind: "oneof", flat: true } },
  RequestConfirmationRequest: {
    task_id: taskRef,
    title: text(LIMITS.titleLength),
    components: { kind: "components", min: 1, max: LIMITS.components },
    request_id: optionalKey,
    timeout: { kind: "duration", maxMs: LIMITS.maxTimeoutMs },
    attempt,
    answerers: { kind: "repeated", max: LIMITS.answerers, each: { kind: "answerer", max: LIMITS.answererLength }, unit: "answerers" },
    timeout_action: { kind: "timeout_action" },
  },
  ResolveConfirmationRequest: {
    confirmation_id: { kind: "ref", to: "confirmation" },
    // Every offered action is a well-formed id; which ones are offered needs the stored surface.
    action: text(LIMITS.idLength),
    values: struct,
  },
  CompleteTaskRequest: { task_id: taskRef, result: struct, attempt },
  FailTaskRequest: { task_id: taskRef, error_message: text(LIMITS.errorMessageLength), details: struct, attempt },
  CancelTaskRequest: { task_id: taskRef, reason: text(LIMITS.reasonLength) },
  ListTaskEventsRequest: {
    task_id: taskRef,
    page_size: { kind: "page_size", fallback: LIMITS.defaultEventPageSize, max: LIMITS.maxPageSize },
  },
  WatchTasksRequest: {
    owner: text(LIMITS.ownerLength),
    task_ids: { kind: "repeated", max: LIMITS.watchTaskIds, each: requiredKey, unit: "ids" },
    after_sequence: { kind: "sequence" },
  },
  HeartbeatRequest: { task_id: taskRef, attempt },
  ClaimTaskRequest: { task_id: taskRef, lease_duration: lease, request_id: optionalKey },
  Component: { id: requiredKey, kind: { kind: "oneof" } },
  "Component.Text": { text: text(LIMITS.textLength) },
  "Component.Button": { label, action: requiredKey, value: struct },
  "Component.TextInput": {
    label,
    placeholder: label,
    default_value: text(LIMITS.textLength),
    max_length: { kind: "count", max: LIMITS.textLength },
    pattern: { kind: "pattern", max: LIMITS.patternLength },
    pattern_description: text(LIMITS.patternLength),
  },
  "Component.Select": {
    label,
    options: { kind: "repeated", min: 1, max: LIMITS.selectOptions, unit: "options" },
    default_value: { kind: "choice", among: "options" },
  },
  "Component.Option": { value: label, label },
  "Component.Checkbox": { label },
  "Component.NumberInput": {
    label,
    min: { kind: "number" },
    max: { kind: "number", atLeast: "min" },
    step: { kind: "number", positive: true },
    default_value: { kind: "number", within: ["min", "max"] },
  },
};

/** The roles an answerer entry may name as `role:<role>`. */
const ROLES: ReadonlySet<string> = new Set<Role>(["worker", "user", "gateway", "admin"]);

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
  return pass.unknown ? { unknown: pass.unknown } : {};
}

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

function checkMessage(schema: DescMessage, msg: Record<string, unknown>, path: string, pass: Pass): void {
  const rules = VALIDATION[schema.typeName.slice(PACKAGE.length)] ?? {};
  for (const member of schema.members) {
    if (pass.violations.length >= MAX_VIOLATIONS) return;
    if (member.kind === "oneof") checkOneof(member, rules[member.name], msg, path, pass);
    else checkField(member, rules[member.name], msg, path, pass);
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

function checkField(field: DescField, rule: Rule | undefined, msg: Record<string, unknown>, path: string, pass: Pass): void {
  const at = path + field.name;
  const value = msg[field.localName];
  if (rule) {
    const problem = ruleProblem(rule, value, at, msg, pass);
    if (problem) pass.violations.push({ field: at, description: problem });
  }
  // Messages of this package have rows of their own (Struct, Duration are rules above).
  if (field.message && field.message.typeName.startsWith(PACKAGE)) {
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

const days = (ms: number) => ms / (24 * 3600 * 1000);
const n = (v: number) => v.toLocaleString("en-US");

/** One line a person reads for a rule (the README's limits table). */
export function describeRule(rule: Rule): string {
  switch (rule.kind) {
    case "ref":
      return `required; a malformed id names no ${rule.to} (answered as an unknown one)`;
    case "key":
      return `${rule.required ? "required;" : "empty, or"} 1-${n(LIMITS.idLength)} of \`A-Z a-z 0-9 . _ : @ -\``;
    case "text":
      return `${rule.required ? "required; " : ""}at most ${n(rule.max)} characters, no NUL`;
    case "struct":
      return `at most ${n(rule.maxBytes / 1024)} KiB as JSON, nesting depth at most ${rule.maxDepth}, finite numbers`;
    case "fraction":
      return "clamped into [0, 1] (±Infinity too); NaN refused";
    case "repeated":
      return `${rule.min !== undefined ? `${rule.min}-${n(rule.max)}` : `at most ${n(rule.max)}`} ${rule.unit}${rule.each ? `; each ${describeRule(rule.each)}` : ""}`;
    case "duration":
      return `non-negative, at most ${days(rule.maxMs)} days; unset or zero waits forever`;
    case "lease":
      return `unset or zero: no lease (ClaimTask: the task's); otherwise ${rule.minMs / 1000} s to ${rule.maxMs / 3_600_000} h`;
    case "attempt":
      return "not negative; 0 = not checked; an attempt other than the task's current one → FAILED_PRECONDITION ATTEMPT_SUPERSEDED";
    case "page_size":
      return `not negative; 0 means ${rule.fallback}; larger than ${n(rule.max)} is lowered to ${n(rule.max)}`;
    case "sequence":
      return "not negative";
    case "components":
      return `${rule.min}-${rule.max} components, ids unique, at least one button`;
    case "oneof":
      return "exactly one must be set";
    case "choice":
      return `empty, or the value of one of the ${rule.among}`;
    case "answerer":
      return `a principal name (at most ${n(rule.max)} characters) or \`role:<role>\` of ${[...ROLES].join(", ")}`;
    case "timeout_action":
      return "empty, or the action of one of the buttons; needs a timeout";
    case "count":
      return `0-${n(rule.max)}`;
    case "pattern":
      return `empty, or RE2 syntax (linear-time matching) of at most ${n(rule.max)} characters; matches the whole value`;
    case "number": {
      const parts = ["finite"];
      if (rule.positive) parts.push("above 0");
      if (rule.atLeast) parts.push(`not below ${rule.atLeast}`);
      if (rule.within) parts.push(`within ${rule.within.join(" and ")}`);
      return `unset, or ${parts.join(", ")}`;
    }
  }
}

/** The numbers a rule states (a proto comment about its field may quote only these). */
export function ruleNumbers(rule: Rule): number[] {
  switch (rule.kind) {
    case "ref":
    case "key":
      return [1, LIMITS.idLength];
    case "text":
      return [rule.max];
    case "struct":
      return [rule.maxBytes, rule.maxDepth];
    case "repeated":
      return [...(rule.min !== undefined ? [rule.min] : []), rule.max];
    case "duration":
      return [rule.maxMs];
    case "page_size":
      return [rule.fallback, rule.max];
    case "components":
      return [rule.min, rule.max];
    case "answerer":
    case "count":
    case "pattern":
      return [rule.max];
    default:
      return [];
  }
}
