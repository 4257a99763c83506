/**
 * Expectations as data: an expected value is a partial picture of the proto JSON answer.
 * Objects match when every key they name matches (other keys are free); arrays match element
 * by element and must have the same length; scalars must be equal (an int64 sent as the
 * string "3" equals 3). Operators, written as a one-key object, cover the rest:
 *
 *   $absent: true        the field is not set            $present: true   it is set
 *   $nonEmpty: true      a non-empty string/array/object  $ne: v           anything but v
 *   $gt/$gte/$lt/$lte: n numeric comparison (int64 strings too)
 *   $oneOf: [a, b]       equals one of them               $len: n          array/string length
 *   $contains: [a, b]    an array holding a match for each (in any order, others allowed)
 *   $matches: "re"       a string matching the regular expression
 *   $approx: n           a number within 1e-9 of n
 */
import type { JsonValue } from "@bufbuild/protobuf";

type Json = JsonValue | undefined;

const OPERATORS = new Set([
  "$absent",
  "$present",
  "$nonEmpty",
  "$ne",
  "$gt",
  "$gte",
  "$lt",
  "$lte",
  "$oneOf",
  "$len",
  "$contains",
  "$matches",
  "$approx",
]);

function isObject(v: Json): v is { [k: string]: JsonValue } {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}

/** A one-key object naming an operator. */
function operatorOf(expected: Json): [string, JsonValue] | undefined {
  if (!isObject(expected)) return undefined;
  const keys = Object.keys(expected);
  if (keys.length !== 1 || !OPERATORS.has(keys[0]!)) return undefined;
  return [keys[0]!, expected[keys[0]!]!];
}

function numeric(v: Json): number | undefined {
  if (typeof v === "number") return v;
  if (typeof v === "string" && /^-?\d+(\.\d+)?(e-?\d+)?$/i.test(v)) return Number(v);
  return undefined;
}

function scalarEqual(actual: Json, expected: Json): boolean {
  if (actual === expected) return true;
  const a = numeric(actual);
  const e = numeric(expected);
  // An int64 arrives as a string ("3"); a case may write it as a number (3).
  const mixed = (typeof actual === "string" && typeof expected === "number") || (typeof actual === "number" && typeof expected === "string");
  if (mixed && a !== undefined && e !== undefined) return a === e;
  return false;
}

const show = (v: Json) => (v === undefined ? "(unset)" : JSON.stringify(v));

/** The first mismatch as "path: why", or undefined when actual matches expected. */
export function mismatch(actual: Json, expected: Json, path = ""): string | undefined {
  const at = path || "(root)";
  const op = operatorOf(expected);
  if (op) {
    const [name, arg] = op;
    const n = numeric(actual);
    const m = numeric(arg);
    switch (name) {
      case "$absent":
        return (actual === undefined) === (arg === true) ? undefined : `${at}: expected ${arg ? "unset" : "set"}, got ${show(actual)}`;
      case "$present":
        return (actual !== undefined) === (arg === true) ? undefined : `${at}: expected ${arg ? "set" : "unset"}, got ${show(actual)}`;
      case "$nonEmpty": {
        const size =
          typeof actual === "string" || Array.isArray(actual) ? actual.length : isObject(actual) ? Object.keys(actual).length : 0;
        return (size > 0) === (arg === true) ? undefined : `${at}: expected ${arg ? "non-empty" : "empty"}, got ${show(actual)}`;
      }
      case "$ne":
        return mismatch(actual, arg, path) === undefined ? `${at}: expected anything but ${show(arg)}` : undefined;
      case "$gt":
      case "$gte":
      case "$lt":
      case "$lte": {
        if (n === undefined || m === undefined) return `${at}: expected a number ${name} ${show(arg)}, got ${show(actual)}`;
        const ok = name === "$gt" ? n > m : name === "$gte" ? n >= m : name === "$lt" ? n < m : n <= m;
        return ok ? undefined : `${at}: expected ${name.slice(1)} ${show(arg)}, got ${show(actual)}`;
      }
      case "$approx":
        return n !== undefined && m !== undefined && Math.abs(n - m) < 1e-9 ? undefined : `${at}: expected ≈${show(arg)}, got ${show(actual)}`;
      case "$oneOf":
        return Array.isArray(arg) && arg.some((a) => mismatch(actual, a, path) === undefined)
          ? undefined
          : `${at}: expected one of ${show(arg)}, got ${show(actual)}`;
      case "$len": {
        const len = typeof actual === "string" || Array.isArray(actual) ? actual.length : undefined;
        return len === Number(arg) ? undefined : `${at}: expected length ${show(arg)}, got ${show(actual)}`;
      }
      case "$contains": {
        if (!Array.isArray(actual)) return `${at}: expected an array, got ${show(actual)}`;
        for (const want of Array.isArray(arg) ? arg : [arg]) {
          if (!actual.some((a) => mismatch(a, want) === undefined)) return `${at}: no element matches ${show(want)} in ${show(actual)}`;
        }
        return undefined;
      }
      case "$matches":
        return typeof actual === "string" && new RegExp(String(arg)).test(actual)
          ? undefined
          : `${at}: expected to match /${String(arg)}/, got ${show(actual)}`;
    }
  }
  if (isObject(expected)) {
    if (!isObject(actual)) return `${at}: expected an object, got ${show(actual)}`;
    for (const [k, v] of Object.entries(expected)) {
      const why = mismatch(actual[k], v, path ? `${path}.${k}` : k);
      if (why) return why;
    }
    return undefined;
  }
  if (Array.isArray(expected)) {
    if (!Array.isArray(actual)) return `${at}: expected an array, got ${show(actual)}`;
    if (actual.length !== expected.length) return `${at}: expected ${expected.length} elements, got ${actual.length}: ${show(actual)}`;
    for (let i = 0; i < expected.length; i++) {
      const why = mismatch(actual[i], expected[i], `${path}[${i}]`);
      if (why) return why;
    }
    return undefined;
  }
  return scalarEqual(actual, expected) ? undefined : `${at}: expected ${show(expected)}, got ${show(actual)}`;
}
