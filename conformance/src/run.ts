/**
 * The runner: every selected case against one target, one line per case, then
 * `N passed, N failed`. Used by the command line (cli.ts) and by the tests in
 * test/conformance/, which call runKit directly.
 */
import { writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import type { SdkAdapter } from "./adapter.js";
import { type Case, loadCases } from "./cases.js";
import { runCase } from "./engine.js";
import { createWire, type Protocol } from "./wire.js";

/** The server-mode cases (one YAML file per area). */
export const SERVER_CASES = fileURLToPath(new URL("../cases/", import.meta.url));
/** The client-mode scenarios (driven through an SDK adapter). */
export const CLIENT_CASES = fileURLToPath(new URL("../client/", import.meta.url));

export interface KitOptions {
  target: string;
  protocol: Protocol;
  token?: string;
  /** The name the server records for our principal. @default "anonymous" (auth off) */
  principal?: string;
  /** Glob over case ids (`area/name`), e.g. `watch/*`. */
  cases?: string;
  junit?: string;
  /** Client mode: run conformance/client/ through this SDK adapter. */
  adapter?: SdkAdapter;
  /** Cases run at once. @default 4 */
  parallel?: number;
  /** Where each line goes. @default console.log */
  print?: (line: string) => void;
}

export interface CaseResult {
  id: string;
  ok: boolean;
  ms: number;
  failure?: string;
}

export interface KitResult {
  passed: number;
  failed: number;
  results: CaseResult[];
}

const xml = (s: string) =>
  s.replace(/[<>&"]/g, (c) => ({ "<": "&lt;", ">": "&gt;", "&": "&amp;", '"': "&quot;" })[c]!).replace(/[^\x09\x0a\x0d\x20-\uffff]/g, "");

function junit(results: CaseResult[], suite: string): string {
  const failed = results.filter((r) => !r.ok).length;
  const total = results.reduce((s, r) => s + r.ms, 0) / 1000;
  const cases = results.map((r) => {
    const [area, name] = [r.id.slice(0, r.id.indexOf("/")), r.id.slice(r.id.indexOf("/") + 1)];
    const body = r.ok ? "" : `<failure message="${xml(r.failure!.split("\n")[0]!)}">${xml(r.failure!)}</failure>`;
    return `    <testcase classname="${xml(area)}" name="${xml(name)}" time="${(r.ms / 1000).toFixed(3)}">${body}</testcase>`;
  });
  return [
    `<?xml version="1.0" encoding="UTF-8"?>`,
    `<testsuites>`,
    `  <testsuite name="${xml(suite)}" tests="${results.length}" failures="${failed}" time="${total.toFixed(3)}">`,
    ...cases,
    `  </testsuite>`,
    `</testsuites>`,
    "",
  ].join("\n");
}

/** Runs the kit; the printed lines are the report, the result is for callers that check. */
export async function runKit(options: KitOptions): Promise<KitResult> {
  const print = options.print ?? ((line: string) => console.log(line));
  const cases: Case[] = loadCases(options.adapter ? CLIENT_CASES : SERVER_CASES, options.cases);
  if (cases.length === 0) throw new Error(`no case matches ${options.cases}`);
  const wire = createWire({ target: options.target, protocol: options.protocol, token: options.token });
  const ctx = { wire, principal: options.principal ?? "anonymous", adapter: options.adapter };
  const results: CaseResult[] = new Array(cases.length);
  // An adapter drives one SDK client; its cases run one at a time.
  const parallel = options.adapter ? 1 : Math.max(1, options.parallel ?? 4);
  let nextIndex = 0;
  const worker = async () => {
    for (;;) {
      const i = nextIndex++;
      if (i >= cases.length) return;
      const c = cases[i]!;
      const started = Date.now();
      try {
        await runCase(c, ctx);
        results[i] = { id: c.id, ok: true, ms: Date.now() - started };
        print(`PASS ${c.id} (${Date.now() - started} ms)`);
      } catch (err) {
        const failure = err instanceof Error ? err.message : String(err);
        results[i] = { id: c.id, ok: false, ms: Date.now() - started, failure };
        print(`FAIL ${c.id} (${Date.now() - started} ms): ${failure.replace(/\n/g, "\n     ")}`);
      }
    }
  };
  await Promise.all(Array.from({ length: parallel }, worker));
  const passed = results.filter((r) => r.ok).length;
  const failed = results.length - passed;
  print(`${passed} passed, ${failed} failed`);
  if (options.junit) {
    const suite = `taskcontrol conformance (${options.adapter ? `client ${options.adapter.name}` : options.protocol})`;
    writeFileSync(options.junit, junit(results, suite));
  }
  return { passed, failed, results };
}
