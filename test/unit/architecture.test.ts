import assert from "node:assert/strict";
import { readdirSync, readFileSync, statSync } from "node:fs";
import { join, relative } from "node:path";
import { describe, it } from "node:test";
import { ROOT } from "../support/server-process.js";

/** Arrows point inward: transport → service → domain ← store/events (docs/architecture.md). */

function files(dir: string): string[] {
  return readdirSync(dir).flatMap((name) => {
    const p = join(dir, name);
    return statSync(p).isDirectory() ? files(p) : p.endsWith(".ts") ? [p] : [];
  });
}

function imports(file: string): string[] {
  const src = readFileSync(file, "utf8");
  return [...src.matchAll(/^\s*(?:import|export)[^'"]*?from\s+["']([^"']+)["']/gm)].map((m) => m[1]!);
}

const RULES: [string, RegExp][] = [
  ["src/domain", /^(@connectrpc|@grpc|@mikro-orm|@bufbuild|node:http2|pg$|sqlite3)|gen\/|\/(store|events|service|transport)\//],
  ["src/events", /^(@connectrpc|@grpc|@mikro-orm|@bufbuild)|gen\/|\/(store|service|transport)\//],
  ["src/store", /^(@connectrpc|@grpc|@bufbuild)|gen\/|\/(events|service|transport)\//],
  // The service reaches state only through the task manager (no hub, no store).
  ["src/service", /^(@grpc|@mikro-orm)|\/(store|events|transport)\//],
  ["src/security", /^@mikro-orm|\/(store|events|transport)\//],
  // Shared by taskctl and the browser bundle: no Node APIs, none of the server's layers.
  ["src/client", /^node:|\/(domain|store|events|service|transport|security|ops|cli|replication)\//],
  // Shared by the server, taskctl and the browser bundle: no Node APIs, no packages, no layers.
  ["src/shared", /^(?!\.\/)/],
  // The Node SDK talks to the service over the wire only (its testing entry starts src/app.ts).
  ["clients/node/src", /\/src\/(domain|store|events|service|transport|security|ops|replication)\//],
];

describe("architecture", () => {
  for (const [dir, forbidden] of RULES) {
    it(`${dir} imports nothing it must not`, () => {
      const offenders = files(join(ROOT, dir)).flatMap((f) =>
        imports(f)
          .filter((s) => forbidden.test(s))
          .map((s) => `${relative(ROOT, f)} → ${s}`),
      );
      assert.deepEqual(offenders, []);
    });
  }
});
