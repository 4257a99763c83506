// Writes the README's configuration table from the one table in src/config.ts (SETTINGS):
// the block between <!-- config-table:start --> and <!-- config-table:end -->.
// Usage: node --import tsx scripts/config-table.ts [--check]
//   --check: rewrite nothing; exit 1 if the README's block differs from the table.
import { readFileSync, writeFileSync } from "node:fs";
import { fileURLToPath } from "node:url";
import { SETTINGS, type Setting } from "../src/config.js";

export const START = "<!-- config-table:start -->";
export const END = "<!-- config-table:end -->";
export const README = fileURLToPath(new URL("../README.md", import.meta.url));

const cell = (s: string) => s.replace(/\|/g, "\\|");

/** The Markdown table: one row per flag, in the table's order. */
export function configTableMarkdown(): string {
  const rows = Object.entries(SETTINGS).map(([flag, s]: [string, Setting<unknown>]) => {
    const name = s.value ? `\`--${flag} ${cell(s.value)}\`` : `\`--${flag}\``;
    // A literal default is code; a default in words ("none (plaintext)") is prose.
    const shown = s.shown === undefined ? "" : s.shown === String(s.fallback) ? `\`${s.shown}\`` : cell(s.shown);
    return `| ${name} | \`${s.env}\` | ${shown} | ${cell(s.description)} |`;
  });
  return ["| flag | environment | default | what it does |", "| --- | --- | --- | --- |", ...rows].join("\n");
}

/** The text between the markers (without them), or undefined when they are missing. */
export function readBlock(readme: string): string | undefined {
  const a = readme.indexOf(START);
  const b = readme.indexOf(END);
  if (a < 0 || b < a) return undefined;
  return readme.slice(a + START.length, b).trim();
}

/** The README with its block replaced by `table`. */
export function withBlock(readme: string, table: string): string {
  const a = readme.indexOf(START);
  const b = readme.indexOf(END);
  if (a < 0 || b < a) throw new Error(`README.md has no ${START} … ${END} block`);
  return `${readme.slice(0, a + START.length)}\n${table}\n${readme.slice(b)}`;
}

if (import.meta.url === new URL(`file://${process.argv[1]}`).href) {
  const readme = readFileSync(README, "utf8");
  const table = configTableMarkdown();
  if (process.argv.includes("--check")) {
    if (readBlock(readme) !== table) {
      console.error("README.md's configuration table differs from src/config.ts: run node --import tsx scripts/config-table.ts");
      process.exit(1);
    }
  } else {
    const next = withBlock(readme, table);
    if (next !== readme) writeFileSync(README, next);
    console.log(next === readme ? "README.md: configuration table up to date" : "README.md: configuration table rewritten");
  }
}
