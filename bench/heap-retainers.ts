/**
 * What holds the objects a heap snapshot gained, per stream:
 *
 *   node --import tsx bench/heap-retainers.ts A.heapsnapshot B.heapsnapshot N [--top 60] [--only PREFIX]
 *
 * Takes the objects of B whose ids A lacks (both snapshots of one process, as heap-probe.ts
 * keeps them with HEAP_KEEP=1) and groups them by what they are and by two steps of their
 * retainer chain, closures by their source file and line, printing bytes and objects per N.
 * heap-diff.ts says which kinds grew; this says whose they are (grpc-js, node:http2, ours)
 * and which closure or promise chain keeps them. --only keeps "type:name" rows with that prefix
 * (e.g. "object:Promise", "closure").
 */
import { readFileSync } from "node:fs";
import { parseArgs } from "node:util";

interface Snapshot {
  snapshot: { meta: { node_fields: string[]; node_types: [string[]]; edge_fields: string[]; edge_types: [string[]] } };
  nodes: number[];
  edges: number[];
  strings: string[];
  locations: number[];
}

const { values, positionals } = parseArgs({
  allowPositionals: true,
  options: { top: { type: "string", default: "60" }, only: { type: "string" } },
});
if (positionals.length !== 3) {
  console.error("usage: heap-retainers.ts A.heapsnapshot B.heapsnapshot N [--top 60] [--only PREFIX]");
  process.exit(2);
}
const [fileA, fileB, perText] = positionals as [string, string, string];
const per = Number(perText);

const load = (file: string) => JSON.parse(readFileSync(file, "utf8")) as Snapshot;

const before = new Set<number>();
{
  const a = load(fileA);
  const nf = a.snapshot.meta.node_fields.length;
  const iId = a.snapshot.meta.node_fields.indexOf("id");
  for (let i = 0; i < a.nodes.length; i += nf) before.add(a.nodes[i + iId]!);
}

const { snapshot, nodes, edges, strings, locations } = load(fileB);
const { meta } = snapshot;
const nf = meta.node_fields.length;
const ef = meta.edge_fields.length;
const nodeTypes = meta.node_types[0];
const edgeTypes = meta.edge_types[0];
const iType = meta.node_fields.indexOf("type");
const iName = meta.node_fields.indexOf("name");
const iId = meta.node_fields.indexOf("id");
const iSize = meta.node_fields.indexOf("self_size");
const iEdges = meta.node_fields.indexOf("edge_count");
const count = nodes.length / nf;

const firstEdge = new Int32Array(count + 1);
for (let n = 0, e = 0; n < count; n++) {
  firstEdge[n] = e;
  e += nodes[n * nf + iEdges]! * ef;
}
firstEdge[count] = edges.length;

const name = (n: number) => strings[nodes[n * nf + iName]!]!;
const type = (n: number) => nodeTypes[nodes[n * nf + iType]!]!;
const isIndexEdge = (e: number) => {
  const t = edgeTypes[edges[e]!];
  return t === "element" || t === "hidden";
};
const edgeName = (e: number) => (isIndexEdge(e) ? `[${edges[e + 1]}]` : strings[edges[e + 1]!]!);

// One retainer per node: the first strong one, preferring a non-internal ("hidden") holder.
const retainer = new Int32Array(count).fill(-1);
const retainerEdge = new Int32Array(count).fill(-1);
for (let n = 0; n < count; n++) {
  for (let e = firstEdge[n]!; e < firstEdge[n + 1]!; e += ef) {
    if (edgeTypes[edges[e]!] === "weak") continue;
    const to = edges[e + 2]! / nf;
    if (retainer[to] === -1 || type(retainer[to]!) === "hidden") {
      retainer[to] = n;
      retainerEdge[to] = e;
    }
  }
}

function edgeTo(n: number, label: string): number {
  for (let e = firstEdge[n]!; e < firstEdge[n + 1]!; e += ef) if (edgeName(e) === label) return edges[e + 2]! / nf;
  return -1;
}

const location = new Map<number, [number, number, number]>();
for (let i = 0; i < locations.length; i += 4) location.set(locations[i]! / nf, [locations[i + 1]!, locations[i + 2]! + 1, locations[i + 3]!]);
const scriptNames = new Map<number, string>();
function closureAt(n: number): string {
  const loc = location.get(n);
  if (!loc) return "?";
  const [script, line, column] = loc;
  if (!scriptNames.has(script)) {
    const shared = edgeTo(n, "shared");
    let s = shared >= 0 ? edgeTo(shared, "script") : -1;
    if (s < 0 && shared >= 0) s = edgeTo(shared, "script_or_debug_info");
    const file = s >= 0 ? edgeTo(s, "name") : -1;
    const path = file >= 0 ? name(file) : "?";
    scriptNames.set(script, path.includes("/node_modules/") ? path.slice(path.lastIndexOf("/node_modules/") + 14) : path.replace(/^.*?\/(src|gen|bench|test)\//, "$1/"));
  }
  // Sources run through tsx are one line each: the column finds the place.
  return `${scriptNames.get(script)}:${line}:${column}`;
}

function describe(n: number): string {
  if (type(n) === "closure") return `closure ${name(n) || "(anonymous)"}@${closureAt(n)}`;
  return `${type(n)}:${name(n).slice(0, 50)}`;
}

const groups = new Map<string, { count: number; bytes: number }>();
for (let n = 0; n < count; n++) {
  if (before.has(nodes[n * nf + iId]!)) continue;
  if (values.only && !`${type(n)}:${name(n)}`.startsWith(values.only)) continue;
  let key = describe(n);
  for (let r = n, step = 0; step < 2 && retainer[r]! >= 0; step++, r = retainer[r]!) {
    key += `  <-${edgeName(retainerEdge[r]!)}- ${describe(retainer[r]!)}`;
  }
  const g = groups.get(key) ?? { count: 0, bytes: 0 };
  g.count++;
  g.bytes += nodes[n * nf + iSize]!;
  groups.set(key, g);
}
const rows = [...groups].sort((x, y) => y[1].bytes - x[1].bytes).slice(0, Number(values.top));
console.log(`objects new in ${fileB}, per ${per} (bytes, objects, what <-edge- held by <-edge- held by):`);
for (const [key, g] of rows) console.log(`${(g.bytes / per).toFixed(0).padStart(6)} B ${(g.count / per).toFixed(2).padStart(6)}  ${key}`);
