/**
 * Diffs two V8 heap snapshots by object type:
 *
 *   node --import tsx bench/heap-diff.ts A.heapsnapshot B.heapsnapshot [--per N] [--top 40]
 *
 * Prints the growth from A to B in objects and self bytes per (type, constructor name);
 * --per divides by N (e.g. the streams opened between the snapshots) for a per-stream cost.
 * Note: "array:" rows with no name are mostly the hash tables of Maps/Sets.
 */
import { readFileSync } from "node:fs";
import { pathToFileURL } from "node:url";
import { parseArgs } from "node:util";

interface Totals {
  byType: Map<string, { count: number; bytes: number }>;
  total: number;
}

function load(file: string): Totals {
  const snap = JSON.parse(readFileSync(file, "utf8")) as {
    snapshot: { meta: { node_fields: string[]; node_types: [string[]] } };
    nodes: number[];
    strings: string[];
  };
  const fields = snap.snapshot.meta.node_fields;
  const types = snap.snapshot.meta.node_types[0];
  const nf = fields.length;
  const iType = fields.indexOf("type");
  const iName = fields.indexOf("name");
  const iSize = fields.indexOf("self_size");
  const { nodes, strings } = snap;
  const byType = new Map<string, { count: number; bytes: number }>();
  let total = 0;
  for (let i = 0; i < nodes.length; i += nf) {
    const type = types[nodes[i + iType]!]!;
    let name = strings[nodes[i + iName]!]!;
    if (type.includes("string")) name = "(string)";
    else if (type === "code") name = "(code)";
    else if (name.length > 60) name = `${name.slice(0, 60)}…`;
    const key = `${type}:${name}`;
    const e = byType.get(key) ?? { count: 0, bytes: 0 };
    e.count++;
    e.bytes += nodes[i + iSize]!;
    total += nodes[i + iSize]!;
    byType.set(key, e);
  }
  return { byType, total };
}

/** The growth from snapshot file a to b, divided by `per`, as printable lines. */
export function diffSnapshots(a: string, b: string, per = 1, top = 40): string {
  const A = load(a);
  const B = load(b);
  const rows = [...B.byType].map(([k, v]) => {
    const o = A.byType.get(k) ?? { count: 0, bytes: 0 };
    return { k, dc: v.count - o.count, db: v.bytes - o.bytes };
  });
  rows.sort((x, y) => y.db - x.db);
  const out = [
    `heap self size ${(A.total / 1024).toFixed(0)} KiB → ${(B.total / 1024).toFixed(0)} KiB: ` +
      `+${((B.total - A.total) / 1024 / per).toFixed(2)} KiB per unit (÷${per})`,
    ...rows.slice(0, top).map((r) => `${(r.db / per).toFixed(0).padStart(8)} B ${(r.dc / per).toFixed(2).padStart(8)} objs  ${r.k}`),
  ];
  return out.join("\n");
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: { per: { type: "string", default: "1" }, top: { type: "string", default: "40" } },
  });
  if (positionals.length !== 2) {
    console.error("usage: heap-diff.ts A.heapsnapshot B.heapsnapshot [--per N] [--top 40]");
    process.exit(2);
  }
  console.log(diffSnapshots(positionals[0]!, positionals[1]!, Number(values.per), Number(values.top)));
}
