// Rewrites the README's table of ErrorInfo reasons from src/domain/errors.ts (REASONS), so the
// two cannot drift: `npm run docs:reasons`. test/unit/docs.test.ts fails when they differ.
import { readFileSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { REASONS } from "../src/domain/errors.js";

const README = fileURLToPath(new URL("../README.md", import.meta.url));
const START = "<!-- reasons-table:start -->";
const END = "<!-- reasons-table:end -->";

/** The table's Markdown, one row per reason, in the order errors.ts lists them. */
export function reasonsTable(): string {
  const rows = Object.entries(REASONS).map(([reason, meaning]) => `| \`${reason}\` | ${meaning} |`);
  return ["| reason | meaning |", "| --- | --- |", ...rows].join("\n");
}

/** `readme` with the block between the markers replaced by `table`. */
export function withBlock(readme: string, start: string, end: string, table: string): string {
  const a = readme.indexOf(start);
  const b = readme.indexOf(end);
  if (a < 0 || b < a) throw new Error(`README.md lacks the ${start} … ${end} markers`);
  return `${readme.slice(0, a + start.length)}\n${table}\n${readme.slice(b)}`;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  writeFileSync(README, withBlock(readFileSync(README, "utf8"), START, END, reasonsTable()));
}
