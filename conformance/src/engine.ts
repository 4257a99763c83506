/**
 * Runs one case: its steps in order against a Wire (and, in client mode, an SDK adapter),
 * with variables substituted into requests and expectations. A case fails at its first step
 * that does not go as written; the failure names the step and the mismatch.
 */
import { randomBytes } from "node:crypto";
import type { JsonValue } from "@bufbuild/protobuf";
import type { SdkAdapter } from "./adapter.js";
import { type Case, type ErrorExpect, type Step, verbOf } from "./cases.js";
import { mismatch } from "./match.js";
import { type OpenStream, type Wire, type WireError, wireError } from "./wire.js";

/** What every case may use besides its own saved values. */
export interface EngineContext {
  wire: Wire;
  /** The principal name the server records for our calls ("anonymous" with auth off). */
  principal: string;
  adapter?: SdkAdapter;
}

type Vars = Record<string, JsonValue>;

/** JSON for a failure message, cut to a readable length. */
const clip = (v: unknown, max = 600) => {
  const text = JSON.stringify(v) ?? "undefined";
  return text.length > max ? `${text.slice(0, max)}…` : text;
};

/** A failed step: where, and why. */
export class StepFailure extends Error {}

const DEFAULT_WITHIN_MS = 5000;
const DEFAULT_CALL_TIMEOUT_MS = 10_000;
const DEFAULT_CASE_TIMEOUT_MS = 60_000;

function lookup(vars: Vars, path: string): JsonValue {
  let v: JsonValue | undefined = vars;
  for (const part of path.split(".")) {
    // Objects by key, arrays by index ("events.0.sequence").
    if (v === null || typeof v !== "object" || !Object.hasOwn(v, part)) throw new StepFailure(`no variable \${${path}}`);
    v = (v as Record<string, JsonValue>)[part];
  }
  return v as JsonValue;
}

/**
 * Substitutes `${name.path}` (a whole string keeps the value's type; inside a longer string it
 * is interpolated) and expands the macros `{$repeat: [s, n]}` (s repeated n times) and
 * `{$add: [a, b]}` (a + b, for sequences).
 */
export function resolve(value: JsonValue | undefined, vars: Vars): JsonValue | undefined {
  if (typeof value === "string") {
    const whole = /^\$\{([^}]+)\}$/.exec(value);
    if (whole) return lookup(vars, whole[1]!);
    return value.replace(/\$\{([^}]+)\}/g, (_, p: string) => {
      const v = lookup(vars, p);
      return typeof v === "string" ? v : JSON.stringify(v);
    });
  }
  if (Array.isArray(value)) return value.map((v) => resolve(v, vars) as JsonValue);
  if (value && typeof value === "object") {
    const keys = Object.keys(value);
    if (keys.length === 1 && keys[0] === "$repeat") {
      const [s, n] = resolve(value.$repeat, vars) as [string, number];
      return String(s).repeat(Number(n));
    }
    if (keys.length === 1 && keys[0] === "$add") {
      const [a, b] = resolve(value.$add, vars) as [JsonValue, JsonValue];
      return String(BigInt(String(a)) + BigInt(String(b)));
    }
    return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, resolve(v, vars) as JsonValue]));
  }
  return value;
}

function pick(value: JsonValue, path: string): JsonValue {
  if (path === "" || path === ".") return value;
  try {
    return lookup(value as Vars, path);
  } catch {
    throw new StepFailure(`cannot save '${path}': not in ${JSON.stringify(value)}`);
  }
}

/** `wire` false for errors an SDK raised: those carry the reason and metadata, not ErrorInfo's domain. */
function checkError(got: WireError, want: ErrorExpect, vars: Vars, wire: boolean): void {
  const fail = (why: string) => {
    throw new StepFailure(`${why} (got ${got.code} ${got.reason ?? "no ErrorInfo"}: ${got.message})`);
  };
  if (got.code !== want.code) fail(`expected code ${want.code}`);
  if (want.reason !== undefined) {
    if (got.reason !== want.reason) fail(`expected ErrorInfo reason ${want.reason}`);
    if (wire && got.domain !== "taskcontrol") fail(`expected ErrorInfo domain taskcontrol, got ${got.domain}`);
  }
  if (want.metadata) {
    const why = mismatch(got.metadata, resolve(want.metadata, vars) as JsonValue, "metadata");
    if (why) fail(why);
  }
  if (want.violations) {
    const wanted = [...(resolve(want.violations, vars) as string[])].sort();
    const gotten = [...got.violations].sort();
    if (JSON.stringify(wanted) !== JSON.stringify(gotten)) fail(`expected BadRequest violations ${JSON.stringify(wanted)}, got ${JSON.stringify(gotten)}`);
  }
}

/** Checks an answer (or the error instead of one) against a step's expect/error/save. */
function settle(
  step: { expect?: JsonValue; error?: ErrorExpect; save?: Record<string, string> },
  outcome: { value: JsonValue } | { error: WireError },
  vars: Vars,
  wire = true,
): void {
  if ("error" in outcome) {
    if (!step.error) throw new StepFailure(`unexpected error ${outcome.error.code} ${outcome.error.reason ?? ""}: ${outcome.error.message}`);
    checkError(outcome.error, step.error, vars, wire);
    return;
  }
  if (step.error) throw new StepFailure(`expected error ${step.error.code} ${step.error.reason ?? ""}, got ${clip(outcome.value)}`);
  if (step.expect !== undefined) {
    const why = mismatch(outcome.value, resolve(step.expect, vars) as JsonValue);
    if (why) throw new StepFailure(`${why}\n  in ${clip(outcome.value)}`);
  }
  for (const [name, path] of Object.entries(step.save ?? {})) vars[name] = pick(outcome.value, path);
}

async function outcomeOf(p: Promise<JsonValue>): Promise<{ value: JsonValue } | { error: WireError }> {
  try {
    return { value: await p };
  } catch (err) {
    return { error: wireError(err) };
  }
}

const kindOf = (m: JsonValue): string[] => (m && typeof m === "object" && !Array.isArray(m) ? Object.keys(m) : []);
const skipped = (m: JsonValue, skip: string[]) => kindOf(m).some((k) => skip.includes(k));
/** Bookmarks come whenever a stream idles; a step sees them only if it asks (skip: []). */
const DEFAULT_SKIP = ["bookmark"];

/** p's value, or a StepFailure once `ms` passed. */
async function inTime<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new StepFailure(`${what} did not finish within ${ms} ms`)), ms)));
  return Promise.race([p, late]).finally(() => clearTimeout(timer));
}

/** Runs one case; resolves on success, throws StepFailure (or another error) on failure. */
export async function runCase(c: Case, ctx: EngineContext): Promise<void> {
  const uniq = `${c.name.slice(0, 40)}-${randomBytes(4).toString("hex")}`;
  const vars: Vars = { owner: `cf-${uniq}`, uniq, principal: ctx.principal };
  const streams = new Map<string, OpenStream>();
  const background = new Map<string, Promise<{ value: JsonValue } | { error: WireError }>>();
  const stream = (name: string) => {
    const s = streams.get(name);
    if (!s) throw new StepFailure(`no open stream '${name}'`);
    return s;
  };
  const sdk = () => {
    if (!ctx.adapter) throw new StepFailure("an sdk step needs client mode (--client)");
    return ctx.adapter;
  };

  const run = async (step: Step, where: string): Promise<void> => {
    const verb = verbOf(step, where);
    try {
      switch (verb) {
        case "call": {
          const s = step as import("./cases.js").CallStep;
          const req = resolve(s.request ?? {}, vars) as JsonValue;
          const deadline = Date.now() + (s.within_ms ?? 0);
          for (;;) {
            const outcome = await outcomeOf(ctx.wire.unary(s.call, req, s.timeout_ms ?? DEFAULT_CALL_TIMEOUT_MS));
            try {
              return settle(s, outcome, vars);
            } catch (err) {
              if (Date.now() >= deadline) throw err;
            }
            await new Promise((r) => setTimeout(r, 100));
          }
        }
        case "stream": {
          const s = step as import("./cases.js").StreamStep;
          const reqs = resolve(s.requests, vars) as JsonValue[];
          settle(s, await outcomeOf(ctx.wire.clientStream(s.stream, reqs, s.timeout_ms ?? DEFAULT_CALL_TIMEOUT_MS)), vars);
          return;
        }
        case "open": {
          const s = step as import("./cases.js").OpenStep;
          streams.get(s.as)?.drop();
          streams.set(s.as, ctx.wire.serverStream(s.open, resolve(s.request ?? {}, vars) as JsonValue));
          return;
        }
        case "next": {
          const s = step as import("./cases.js").NextStep;
          const skip = s.skip ?? DEFAULT_SKIP;
          const deadline = Date.now() + (s.within_ms ?? DEFAULT_WITHIN_MS);
          for (;;) {
            const r = await stream(s.next).next(Math.max(0, deadline - Date.now()));
            if ("timeout" in r) throw new StepFailure(`no message on '${s.next}' within ${s.within_ms ?? DEFAULT_WITHIN_MS} ms`);
            if ("end" in r) {
              if (r.end) settle(s, { error: r.end }, vars);
              else throw new StepFailure(`'${s.next}' ended instead of sending a message`);
              return;
            }
            if (skipped(r.message, skip)) continue;
            settle(s, { value: r.message }, vars);
            return;
          }
        }
        case "until": {
          const s = step as import("./cases.js").UntilStep;
          const within = s.within_ms ?? DEFAULT_WITHIN_MS;
          const deadline = Date.now() + within;
          const want = resolve(s.expect ?? {}, vars) as JsonValue;
          const passed: JsonValue[] = [];
          for (;;) {
            const r = await stream(s.until).next(Math.max(0, deadline - Date.now()));
            if ("timeout" in r) throw new StepFailure(`nothing matching on '${s.until}' within ${within} ms; passed over ${clip(passed)}`);
            if ("end" in r) {
              if (r.end && s.error) return settle(s, { error: r.end }, vars);
              throw new StepFailure(`'${s.until}' ended (${r.end ? `${r.end.code} ${r.end.reason}` : "OK"}) before a match; passed over ${clip(passed)}`);
            }
            if (mismatch(r.message, want) === undefined) return settle(s, { value: r.message }, vars);
            if (!skipped(r.message, DEFAULT_SKIP)) passed.push(r.message);
          }
        }
        case "end": {
          const s = step as import("./cases.js").EndStep;
          const skip = s.skip ?? DEFAULT_SKIP;
          const deadline = Date.now() + (s.within_ms ?? DEFAULT_WITHIN_MS);
          for (;;) {
            const r = await stream(s.end).next(Math.max(0, deadline - Date.now()));
            if ("timeout" in r) throw new StepFailure(`'${s.end}' did not end within ${s.within_ms ?? DEFAULT_WITHIN_MS} ms`);
            if ("message" in r) {
              if (skipped(r.message, skip)) continue;
              throw new StepFailure(`'${s.end}' sent ${clip(r.message)} instead of ending`);
            }
            if (r.end) return settle({ error: s.error }, { error: r.end }, vars);
            if (s.error) throw new StepFailure(`'${s.end}' ended OK, expected ${s.error.code} ${s.error.reason ?? ""}`);
            streams.delete(s.end);
            return;
          }
        }
        case "quiet": {
          const s = step as import("./cases.js").QuietStep;
          const skip = s.skip ?? DEFAULT_SKIP;
          const deadline = Date.now() + s.for_ms;
          for (;;) {
            const left = deadline - Date.now();
            if (left <= 0) return;
            const r = await stream(s.quiet).next(left);
            if ("timeout" in r) return;
            if ("end" in r) throw new StepFailure(`'${s.quiet}' ended (${r.end ? `${r.end.code} ${r.end.reason}` : "OK"}) instead of staying open`);
            if (!skipped(r.message, skip)) throw new StepFailure(`'${s.quiet}' sent ${clip(r.message)}, expected nothing for ${s.for_ms} ms`);
          }
        }
        case "drop": {
          const s = step as import("./cases.js").DropStep;
          stream(s.drop).drop();
          streams.delete(s.drop);
          return;
        }
        case "sleep_ms":
          await new Promise((r) => setTimeout(r, (step as import("./cases.js").SleepStep).sleep_ms));
          return;
        case "repeat": {
          const s = step as import("./cases.js").RepeatStep;
          for (let i = 0; i < s.repeat; i++) {
            if (i > 0) await new Promise((r) => setTimeout(r, s.every_ms));
            for (const [j, inner] of s.steps.entries()) await run(inner, `${where} (round ${i + 1}) step ${j + 1}`);
          }
          return;
        }
        case "sdk": {
          const s = step as import("./cases.js").SdkStep;
          const args = resolve(s.args ?? {}, vars) as JsonValue;
          const p = sdk()
            .call(s.sdk, args)
            .then(
              (value) => ({ value }),
              (error: unknown) => ({ error: sdk().errorOf(error) }),
            );
          if (s.as) {
            background.set(s.as, p);
            return;
          }
          settle(s, await inTime(p, s.within_ms ?? DEFAULT_CALL_TIMEOUT_MS, `sdk ${s.sdk}`), vars, false);
          return;
        }
        case "await": {
          const s = step as import("./cases.js").AwaitStep;
          const p = background.get(s.await);
          if (!p) throw new StepFailure(`no background sdk call '${s.await}'`);
          background.delete(s.await);
          settle(s, await inTime(p, s.within_ms ?? DEFAULT_WITHIN_MS, `sdk call '${s.await}'`), vars, false);
          return;
        }
      }
    } catch (err) {
      if (err instanceof StepFailure && !err.message.startsWith("step ")) throw new StepFailure(`${where} (${verb}): ${err.message}`);
      throw err;
    }
  };

  let timer: NodeJS.Timeout | undefined;
  const limit = c.timeout_ms ?? DEFAULT_CASE_TIMEOUT_MS;
  try {
    await Promise.race([
      (async () => {
        for (const [i, step] of c.steps.entries()) await run(step, `step ${i + 1}`);
      })(),
      new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new StepFailure(`case took longer than ${limit} ms`)), limit))),
    ]);
  } catch (err) {
    // A background SDK call that failed is often why a later step waited in vain: say so.
    const settled = await Promise.all([...background].map(async ([name, p]) => [name, await inTime(p, 0, "").catch(() => undefined)] as const));
    const failed = settled.flatMap(([name, r]) => (r && "error" in r ? [`background sdk '${name}' failed: ${r.error.code} ${r.error.reason ?? ""} ${r.error.message}`] : []));
    if (err instanceof StepFailure && failed.length) throw new StepFailure(`${err.message}\n  (${failed.join("; ")})`);
    throw err;
  } finally {
    clearTimeout(timer);
    for (const s of streams.values()) s.drop();
    await ctx.adapter?.reset();
  }
}
