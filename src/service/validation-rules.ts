import { LIMITS } from "../domain/limits.js";
import type { Role } from "./principal.js";

/**
 * The request table of the one validation layer (validation.ts checks it): every request
 * message's fields and the rule each is held to, and how a rule reads in the README's limits
 * table (scripts/docs.ts) and in the proto comments (a unit test holds them to it).
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
export const ROLES: ReadonlySet<string> = new Set<Role>(["worker", "user", "gateway", "admin"]);

/** A duration in days, and a number as the README writes it (1,024). */
export const days = (ms: number) => ms / (24 * 3600 * 1000);
export const n = (v: number) => v.toLocaleString("en-US");

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
