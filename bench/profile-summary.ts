/**
 * Summarises a V8 .cpuprofile (from `node --cpu-prof`, e.g. `bench/run.ts --profile`):
 *
 *   node --import tsx bench/profile-summary.ts <file.cpuprofile> [--top 30] [--match text]
 *
 * Prints the top functions by self time, self time by package / source area, and inclusive
 * time of the top functions (a sample counts once per function on its stack). --match keeps
 * only functions whose name or file contains the text in the inclusive listing; --since S
 * and --until S keep only samples taken that many seconds after the profile started (skip
 * start-up with --since 5).
 */
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";

interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
  columnNumber: number;
}
interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  hitCount?: number;
  children?: number[];
}
interface Profile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    top: { type: "string", default: "30" },
    match: { type: "string" },
    since: { type: "string", default: "0" },
    until: { type: "string" },
  },
});
const file = positionals[0];
if (!file) {
  console.error("usage: profile-summary.ts <file.cpuprofile> [--top N] [--match text]");
  process.exit(2);
}
const top = Number(values.top);
const profile = JSON.parse(readFileSync(file, "utf8")) as Profile;

const byId = new Map(profile.nodes.map((n) => [n.id, n] as const));
const parent = new Map<number, number>();
for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);

function shortUrl(url: string): string {
  const nm = url.lastIndexOf("/node_modules/");
  if (nm >= 0) return url.slice(nm + "/node_modules/".length);
  const root = url.indexOf("/work/main/");
  if (root >= 0) return url.slice(root + "/work/main/".length);
  return url.replace(/^file:\/\//, "");
}
function area(url: string): string {
  if (!url) return "(native/V8)";
  const s = shortUrl(url);
  if (s.startsWith("node:")) return s.split("/").slice(0, 2).join("/");
  const parts = s.split("/");
  if (url.includes("/node_modules/")) return parts[0]!.startsWith("@") ? `${parts[0]}/${parts[1]}` : parts[0]!;
  return parts.slice(0, 2).join("/");
}
function key(cf: CallFrame): string {
  const name = cf.functionName || "(anonymous)";
  return cf.url ? `${name}  ${shortUrl(cf.url)}:${cf.lineNumber + 1}` : name;
}

// Time of each sample: its delta to the next (the last takes the mean).
const fullMs = (profile.endTime - profile.startTime) / 1000;
const sinceMs = Number(values.since) * 1000;
const untilMs = values.until ? Number(values.until) * 1000 : Number.POSITIVE_INFINITY;
const weights = new Map<number, number>(); // node id -> ms
let at = 0; // ms since start
let total = 0;
for (let i = 0; i < profile.samples.length; i++) {
  at += (profile.timeDeltas[i] ?? 0) / 1000;
  const dt = (profile.timeDeltas[i + 1] ?? (fullMs * 1000) / profile.samples.length) / 1000;
  if (at < sinceMs || at > untilMs) continue;
  total += Math.max(0, dt);
  const id = profile.samples[i]!;
  weights.set(id, (weights.get(id) ?? 0) + Math.max(0, dt));
}

const self = new Map<string, number>();
const selfArea = new Map<string, number>();
const inclusive = new Map<string, number>();
let idle = 0;
let program = 0;
let gc = 0;
for (const [id, ms] of weights) {
  const node = byId.get(id)!;
  const name = node.callFrame.functionName;
  if (name === "(idle)") {
    idle += ms;
    continue;
  }
  if (name === "(program)") program += ms;
  if (name === "(garbage collector)") gc += ms;
  const k = key(node.callFrame);
  self.set(k, (self.get(k) ?? 0) + ms);
  const a = name.startsWith("(") ? name : area(node.callFrame.url);
  selfArea.set(a, (selfArea.get(a) ?? 0) + ms);
  const seen = new Set<string>();
  for (let cur: number | undefined = id; cur !== undefined; cur = parent.get(cur)) {
    const kk = key(byId.get(cur)!.callFrame);
    if (seen.has(kk)) continue;
    seen.add(kk);
    inclusive.set(kk, (inclusive.get(kk) ?? 0) + ms);
  }
}
const busy = total - idle;
const pct = (ms: number) => `${((100 * ms) / busy).toFixed(1).padStart(5)}%`;
const fmt = (ms: number) => `${ms.toFixed(0).padStart(7)} ms`;

console.log(`${file}`);
console.log(
  `wall ${(total / 1000).toFixed(1)} s, busy ${(busy / 1000).toFixed(1)} s (idle ${(idle / 1000).toFixed(1)} s); ` +
    `GC ${pct(gc).trim()} of busy, (program) ${pct(program).trim()}; percentages below are of busy time\n`,
);
console.log(`top ${top} by self time:`);
for (const [k, ms] of [...self].sort((a, b) => b[1] - a[1]).slice(0, top)) console.log(`${fmt(ms)} ${pct(ms)}  ${k}`);
console.log(`\nself time by area:`);
for (const [k, ms] of [...selfArea].sort((a, b) => b[1] - a[1]).slice(0, 20)) console.log(`${fmt(ms)} ${pct(ms)}  ${k}`);
console.log(`\ntop ${top} by inclusive time${values.match ? ` (matching "${values.match}")` : ""}:`);
const inc = [...inclusive]
  .filter(([k]) => !values.match || k.includes(values.match))
  .filter(([k]) => !k.startsWith("(root)"))
  .sort((a, b) => b[1] - a[1])
  .slice(0, top);
for (const [k, ms] of inc) console.log(`${fmt(ms)} ${pct(ms)}  ${k}`);
