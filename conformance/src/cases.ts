/**
 * The case files: YAML, one file per area, each a list of cases, each a list of steps. The
 * format is documented in conformance/README.md; this module loads the files and checks
 * their shape, so a typo in a case fails loudly instead of testing nothing.
 */
import { readdirSync, readFileSync } from "node:fs";
import { basename, join } from "node:path";
import type { JsonValue } from "@bufbuild/protobuf";
import { minimatch } from "minimatch";
import { parse } from "yaml";

/** What an error must look like: the code, and optionally its ErrorInfo and BadRequest. */
export interface ErrorExpect {
  /** snake_case gRPC code: invalid_argument, not_found, failed_precondition, … */
  code: string;
  /** ErrorInfo.reason (domain taskcontrol is then required too). */
  reason?: string;
  /** ErrorInfo.metadata entries that must be present (values are matched). */
  metadata?: Record<string, JsonValue>;
  /** BadRequest field paths: exactly these, in any order. */
  violations?: string[];
}

interface Expecting {
  expect?: JsonValue;
  error?: ErrorExpect;
  /** var name → dot path into the answer ("" for all of it). */
  save?: Record<string, string>;
}

/** A unary call. */
export interface CallStep extends Expecting {
  call: string;
  request?: JsonValue;
  timeout_ms?: number;
  /** Polls: repeats the call every 100 ms until `expect` matches, for at most this long. */
  within_ms?: number;
}
/** A client-streaming call with all its messages. */
export interface StreamStep extends Expecting {
  stream: string;
  requests: JsonValue[];
  timeout_ms?: number;
}
/** Opens a server stream under a name; later steps read it. */
export interface OpenStep {
  open: string;
  as: string;
  request?: JsonValue;
}
/** The stream's next message (skipping the kinds in `skip`) must match. */
export interface NextStep extends Expecting {
  next: string;
  within_ms?: number;
  skip?: string[];
}
/** Reads the stream until a message matches (others are passed over). */
export interface UntilStep extends Expecting {
  until: string;
  within_ms?: number;
}
/** The stream must end (OK, or with `error`) with no further message. */
export interface EndStep {
  end: string;
  error?: ErrorExpect;
  within_ms?: number;
  skip?: string[];
}
/** The stream must stay silent (but for `skip` kinds) for `for_ms`. */
export interface QuietStep {
  quiet: string;
  for_ms: number;
  skip?: string[];
}
/** Cancels the stream from the client side (a dropped call). */
export interface DropStep {
  drop: string;
}
export interface SleepStep {
  sleep_ms: number;
}
/** Runs `steps` `repeat` times, `every_ms` apart. */
export interface RepeatStep {
  repeat: number;
  every_ms: number;
  steps: Step[];
}
/** Client mode: one SDK operation through the adapter; with `as`, it runs in the background. */
export interface SdkStep extends Expecting {
  sdk: string;
  args?: JsonValue;
  as?: string;
  /** How long the operation may take. @default 10000 */
  within_ms?: number;
}
/** Client mode: waits for a background SDK operation's result. */
export interface AwaitStep extends Expecting {
  await: string;
  within_ms?: number;
}

export type Step =
  | CallStep
  | StreamStep
  | OpenStep
  | NextStep
  | UntilStep
  | EndStep
  | QuietStep
  | DropStep
  | SleepStep
  | RepeatStep
  | SdkStep
  | AwaitStep;

export interface Case {
  /** `area/name`, unique; what --cases matches and the report prints. */
  id: string;
  name: string;
  doc?: string;
  steps: Step[];
  timeout_ms?: number;
}

const VERBS = ["call", "stream", "open", "next", "until", "end", "quiet", "drop", "sleep_ms", "repeat", "sdk", "await"] as const;
const ALLOWED: Record<(typeof VERBS)[number], string[]> = {
  call: ["request", "expect", "error", "save", "timeout_ms", "within_ms"],
  stream: ["requests", "expect", "error", "save", "timeout_ms"],
  open: ["as", "request"],
  next: ["expect", "error", "save", "within_ms", "skip"],
  until: ["expect", "error", "save", "within_ms"],
  end: ["error", "within_ms", "skip"],
  quiet: ["for_ms", "skip"],
  drop: [],
  sleep_ms: [],
  repeat: ["every_ms", "steps"],
  sdk: ["args", "as", "expect", "error", "save", "within_ms"],
  await: ["expect", "error", "save", "within_ms"],
};

/** The verb of a step, after checking it has exactly one and only the keys that verb takes. */
export function verbOf(step: Step, where: string): (typeof VERBS)[number] {
  const keys = Object.keys(step);
  const verbs = VERBS.filter((v) => keys.includes(v));
  if (verbs.length !== 1) throw new Error(`${where}: a step needs exactly one of ${VERBS.join(", ")}; got ${keys.join(", ")}`);
  const verb = verbs[0]!;
  const extra = keys.filter((k) => k !== verb && !ALLOWED[verb].includes(k));
  if (extra.length) throw new Error(`${where}: '${verb}' does not take ${extra.join(", ")}`);
  if (verb === "repeat") (step as RepeatStep).steps.forEach((s, i) => verbOf(s, `${where}.steps[${i}]`));
  return verb;
}

/** Loads every *.yaml in `dir` (sorted), checks the steps and ids, filters by the glob. */
export function loadCases(dir: string, glob?: string): Case[] {
  const out: Case[] = [];
  const seen = new Set<string>();
  for (const file of readdirSync(dir).filter((f) => f.endsWith(".yaml")).sort()) {
    const doc = parse(readFileSync(join(dir, file), "utf8")) as { area?: string; cases?: Omit<Case, "id">[] };
    const area = doc.area ?? basename(file, ".yaml");
    if (!Array.isArray(doc.cases)) throw new Error(`${file}: no 'cases' list`);
    for (const c of doc.cases) {
      const id = `${area}/${c.name}`;
      if (!c.name || !/^[a-z0-9][a-z0-9-]*$/.test(c.name)) throw new Error(`${file}: case name '${c.name}' must be kebab-case`);
      if (seen.has(id)) throw new Error(`${file}: duplicate case ${id}`);
      seen.add(id);
      if (!Array.isArray(c.steps) || c.steps.length === 0) throw new Error(`${id}: no steps`);
      c.steps.forEach((s, i) => verbOf(s, `${id} step ${i + 1}`));
      if (!glob || minimatch(id, glob)) out.push({ ...c, id });
    }
  }
  return out;
}
