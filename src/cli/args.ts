// The values on taskctl's command line, parsed and checked: --value pairs, --status names,
// numbers; a mistake is a UsageError naming the flag (exit 2).
import type { JsonObject, JsonValue } from "@bufbuild/protobuf";
import { TaskStatus, type Confirmation } from "../../gen/taskcontrol/v1/task_pb.js";
import { UsageError } from "./io.js";

/**
 * Parses --value pairs: `k=v` is a string (a bool for a checkbox when the surface is known),
 * `k:=json` is raw JSON.
 */
export function parseValues(pairs: readonly string[], surface?: Confirmation): JsonObject {
  const kinds = new Map<string, string | undefined>();
  for (const c of surface?.components ?? []) kinds.set(c.id, c.kind.case);
  const out: JsonObject = {};
  for (const pair of pairs) {
    const raw = pair.indexOf(":=");
    const eq = pair.indexOf("=");
    if (eq <= 0) throw new UsageError(`--value wants k=v or k:=json, got "${pair}"`);
    let key: string;
    let value: JsonValue;
    if (raw > 0 && raw < eq) {
      key = pair.slice(0, raw);
      try {
        value = JSON.parse(pair.slice(raw + 2)) as JsonValue;
      } catch {
        throw new UsageError(`--value ${key}:= needs JSON, got "${pair.slice(raw + 2)}"`);
      }
    } else {
      key = pair.slice(0, eq);
      const text = pair.slice(eq + 1);
      value = kinds.get(key) === "checkbox" ? parseBool(key, text) : text;
    }
    if (surface !== undefined) {
      const kind = kinds.get(key);
      if (kind === undefined || kind === "text" || kind === "button") {
        const inputs = [...kinds].filter(([, k]) => k === "textInput" || k === "select" || k === "checkbox");
        throw new UsageError(
          `"${key}" is not an input of this confirmation; inputs: ${inputs.map(([id]) => id).join(", ") || "none"}`,
        );
      }
    }
    out[key] = value;
  }
  return out;
}

function parseBool(key: string, text: string): boolean {
  const t = text.toLowerCase();
  if (["true", "yes", "y", "1", "on"].includes(t)) return true;
  if (["false", "no", "n", "0", "off"].includes(t)) return false;
  throw new UsageError(`checkbox "${key}" takes true or false, got "${text}"`);
}

const STATUS_NAMES: Record<string, TaskStatus> = {
  running: TaskStatus.RUNNING,
  waiting: TaskStatus.WAITING_CONFIRMATION,
  waiting_confirmation: TaskStatus.WAITING_CONFIRMATION,
  succeeded: TaskStatus.SUCCEEDED,
  failed: TaskStatus.FAILED,
  cancelled: TaskStatus.CANCELLED,
  canceled: TaskStatus.CANCELLED,
};

/** Parses --status values (repeatable, comma-separated, any case, TASK_STATUS_ prefix allowed). */
export function parseStatuses(values: readonly string[]): TaskStatus[] {
  const out: TaskStatus[] = [];
  for (const v of values.flatMap((s) => s.split(","))) {
    const key = v.trim().toLowerCase().replace(/^task_status_/, "").replace(/-/g, "_");
    if (key === "") continue;
    const s = STATUS_NAMES[key];
    if (s === undefined) throw new UsageError(`unknown status "${v}"; use ${Object.keys(STATUS_NAMES).join(", ")}`);
    if (!out.includes(s)) out.push(s);
  }
  return out;
}

export function parseLimit(v: string | undefined): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new UsageError(`--limit wants a positive integer, got "${v}"`);
  return n;
}

export function parseSeconds(flag: string, v: string | undefined): number {
  const n = Number(v);
  if (v === undefined || v.trim() === "" || !Number.isFinite(n) || n < 0) throw new UsageError(`${flag} wants seconds, got "${v ?? ""}"`);
  return n;
}

export function parseStepMs(v: string | undefined): number {
  if (v === undefined) return 1500;
  const n = Number(v);
  if (!Number.isFinite(n) || n < 0 || n > 3_600_000) throw new UsageError(`--step-ms wants milliseconds, got "${v}"`);
  return n;
}

/** A string option's value (commander gives strings, booleans or lists). */
export function str(v: unknown): string | undefined {
  return typeof v === "string" ? v : undefined;
}

/** A repeatable option's values. */
export function strs(v: unknown): string[] {
  return Array.isArray(v) ? v.filter((x): x is string => typeof x === "string") : [];
}
