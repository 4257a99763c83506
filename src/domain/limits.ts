import type { JsonObject, JsonValue } from "./model.js";

/**
 * Input bounds, the numbers only. src/service/validation-rules.ts's table applies them to each
 * request field at the service edge (and the README's limits table is generated from it);
 * the domain uses them only for the checks that need state (an answer's values).
 */
export const LIMITS = Object.freeze({
  idLength: 128,
  ownerLength: 128,
  kindLength: 128,
  labelLength: 512,
  titleLength: 512,
  errorMessageLength: 4096,
  reasonLength: 1024,
  textLength: 4096,
  /** Bytes of a Struct payload serialised as JSON. */
  structBytes: 64 * 1024,
  structDepth: 32,
  components: 64,
  selectOptions: 100,
  /** Entries of RequestConfirmation's answerers, and the length of each. */
  answerers: 64,
  answererLength: 128,
  /** Characters of a TextInput's pattern and of its pattern_description. */
  patternLength: 512,
  watchTaskIds: 1000,
  /** ListTasks page size when none is given, and the largest one served. */
  defaultPageSize: 50,
  maxPageSize: 1000,
  /** ListTaskEvents page size when none is given (the largest is maxPageSize). */
  defaultEventPageSize: 100,
  /** Bytes of one whole request message on either listener. */
  messageBytes: 4 * 1024 * 1024,
  /** Longest confirmation timeout: 30 days in milliseconds. */
  maxTimeoutMs: 30 * 24 * 3600 * 1000,
  /** Shortest lease a worker may ask for: 1 s. */
  minLeaseMs: 1000,
  /** Longest lease: 24 h in milliseconds. */
  maxLeaseMs: 24 * 3600 * 1000,
});

const ID_PATTERN = /^[A-Za-z0-9._:@-]+$/;

/** What is wrong with an id (1-128 of [A-Za-z0-9._:@-]), or undefined if it is well-formed. */
export function idProblem(value: string): string | undefined {
  if (value.length === 0) return "is required";
  if (value.length > LIMITS.idLength) return `longer than ${LIMITS.idLength} characters`;
  if (!ID_PATTERN.test(value)) return "may only contain A-Z a-z 0-9 . _ : @ -";
  return undefined;
}

/** What is wrong with a text: longer than `max`, a NUL, an unpaired surrogate; or undefined. */
export function textProblem(value: string, max: number): string | undefined {
  if (value.length > max) return `longer than ${max} characters`;
  if (!value.isWellFormed()) return "is not valid UTF-8 text";
  if (value.includes("\u0000")) return "contains a NUL character";
  return undefined;
}

/** What is wrong with a Struct payload (too large, too deep, non-finite numbers), or undefined. */
export function structProblem(value: JsonObject | null | undefined): string | undefined {
  if (value == null) return undefined;
  const size = { bound: 0 };
  const deep = depthProblem(value, 1, size);
  if (deep) return deep;
  // The walk's bound is never below the JSON's UTF-8 length: only a payload that may be too
  // large is serialised to measure it (a checkpoint is usually far below the limit).
  if (size.bound <= LIMITS.structBytes) return undefined;
  const bytes = Buffer.byteLength(JSON.stringify(value), "utf8");
  if (bytes > LIMITS.structBytes) return `is ${bytes} bytes as JSON; at most ${LIMITS.structBytes}`;
  return undefined;
}

/**
 * Most UTF-8 bytes JSON.stringify writes for a string: its quotes, and for each UTF-16 unit at
 * most six (the \uXXXX escape of a control character; a character outside ASCII takes 2-3
 * bytes, a surrogate pair 4 for its two units).
 */
const stringBound = (s: string) => 2 + 6 * s.length;
/** Most characters of a finite number in JSON (e.g. -1.7976931348623157e+308). */
const NUMBER_BOUND = 25;

/** Checks depth, numbers and text, adding to `size.bound` an upper bound of the JSON's UTF-8 length. */
function depthProblem(value: JsonValue, depth: number, size: { bound: number }): string | undefined {
  if (depth > LIMITS.structDepth) return `nested deeper than ${LIMITS.structDepth}`;
  if (typeof value === "number") {
    if (!Number.isFinite(value)) return "holds a non-finite number";
    size.bound += NUMBER_BOUND;
  } else if (typeof value === "string") {
    if (!value.isWellFormed()) return "holds text that is not valid UTF-8";
    size.bound += stringBound(value);
  } else if (value === null || typeof value !== "object") {
    size.bound += 5; // null, true, false
  } else if (Array.isArray(value)) {
    size.bound += 2 + value.length; // brackets and commas
    for (const child of value) {
      const problem = depthProblem(child, depth + 1, size);
      if (problem) return problem;
    }
  } else {
    size.bound += 2; // braces
    for (const key in value) {
      if (!Object.hasOwn(value, key)) continue;
      size.bound += stringBound(key) + 2; // the key, its colon and a comma
      const problem = depthProblem(value[key]!, depth + 1, size);
      if (problem) return problem;
    }
  }
  return undefined;
}
