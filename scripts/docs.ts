// Writes the README's generated tables from their one source each, so docs and code cannot
// drift: the blocks between <!-- NAME:start --> and <!-- NAME:end -->.
// Usage: npm run docs [-- --check]   (--check rewrites nothing and exits 1 on drift;
// test/unit/docs.test.ts fails on drift too).
import { readFileSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { SETTINGS, type Setting } from "../src/config.js";
import { REASONS } from "../src/domain/errors.js";
import { LIMITS } from "../src/domain/limits.js";
import { describeRule, VALIDATION } from "../src/service/validation-rules.js";

export const README = fileURLToPath(new URL("../README.md", import.meta.url));

const cell = (s: string) => s.replace(/\|/g, "\\|");

/** The configuration table: one row per flag of src/config.ts's SETTINGS, in its order. */
export function configTableMarkdown(): string {
  const rows = Object.entries(SETTINGS).map(([flag, s]: [string, Setting<unknown>]) => {
    const name = s.value ? `\`--${flag} ${cell(s.value)}\`` : `\`--${flag}\``;
    const alias = s.alias ? ` (or \`--${s.alias.flag}\`)` : "";
    const env = s.alias ? `\`${s.env}\` (or \`${s.alias.env}\`)` : `\`${s.env}\``;
    // A literal default is code; a default in words ("none (plaintext)") is prose.
    const shown = s.shown === undefined ? "" : s.shown === String(s.fallback) ? `\`${s.shown}\`` : cell(s.shown);
    return `| ${name}${alias} | ${env} | ${shown} | ${cell(s.description)} |`;
  });
  return ["| flag | environment | default | what it does |", "| --- | --- | --- | --- |", ...rows].join("\n");
}

/** The ErrorInfo reasons of src/domain/errors.ts's REASONS, in its order. */
export function reasonsTableMarkdown(): string {
  const rows = Object.entries(REASONS).map(([reason, meaning]) => `| \`${reason}\` | ${cell(meaning)} |`);
  return ["| reason | meaning |", "| --- | --- |", ...rows].join("\n");
}

/**
 * The limits table: one row per field rule of src/service/validation-rules.ts's VALIDATION, in its
 * order, then the bounds the listeners enforce on whole messages and streams.
 */
export function limitsTableMarkdown(): string {
  const rows = Object.entries(VALIDATION).flatMap(([message, rules]) =>
    Object.entries(rules).map(([field, rule]) => `| \`${message}\` | \`${field}\` | ${cell(describeRule(rule))} |`),
  );
  const streams = SETTINGS["max-streams-per-principal"]!;
  rows.push(
    `| any request | the whole message | at most ${LIMITS.messageBytes / (1024 * 1024)} MiB on either listener (RESOURCE_EXHAUSTED past it) |`,
    `| WatchTasks, RequestConfirmation, StreamProgress | open streams per principal | \`--${"max-streams-per-principal"}\` (\`${streams.env}\`), default ${Number(streams.fallback).toLocaleString("en-US")} (RESOURCE_EXHAUSTED past it) |`,
  );
  return ["| message | field | rule |", "| --- | --- | --- |", ...rows].join("\n");
}

/** The results `npm run bench` wrote last (commit them with the code they measured). */
export const BENCH_RESULTS = fileURLToPath(new URL("../bench/results/latest.json", import.meta.url));

/** The performance table: the table the last `npm run bench` printed (bench/results/latest.json). */
export function perfTableMarkdown(): string {
  const { table } = JSON.parse(readFileSync(BENCH_RESULTS, "utf8")) as { table?: string };
  if (!table) throw new Error(`${BENCH_RESULTS} has no table: run npm run bench`);
  return table;
}

/** Every generated block of the README, by marker name. */
export const BLOCKS: Readonly<Record<string, () => string>> = {
  "config-table": configTableMarkdown,
  "reasons-table": reasonsTableMarkdown,
  "limits-table": limitsTableMarkdown,
  "perf-table": perfTableMarkdown,
};

const markers = (name: string) => [`<!-- ${name}:start -->`, `<!-- ${name}:end -->`] as const;

/** The text between the markers (without them), or undefined when they are missing. */
export function readBlock(readme: string, name: string): string | undefined {
  const [start, end] = markers(name);
  const a = readme.indexOf(start);
  const b = readme.indexOf(end);
  if (a < 0 || b < a) return undefined;
  return readme.slice(a + start.length, b).trim();
}

/** The README with the block `name` replaced by `table`. */
export function withBlock(readme: string, name: string, table: string): string {
  const [start, end] = markers(name);
  const a = readme.indexOf(start);
  const b = readme.indexOf(end);
  if (a < 0 || b < a) throw new Error(`README.md has no ${start} … ${end} block`);
  return `${readme.slice(0, a + start.length)}\n${table}\n${readme.slice(b)}`;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const readme = readFileSync(README, "utf8");
  let next = readme;
  for (const [name, render] of Object.entries(BLOCKS)) next = withBlock(next, name, render());
  if (process.argv.includes("--check")) {
    if (next !== readme) {
      console.error("README.md's generated tables differ from the code: run npm run docs");
      process.exit(1);
    }
  } else if (next !== readme) {
    writeFileSync(README, next);
    console.log("README.md: generated tables rewritten");
  }
}
