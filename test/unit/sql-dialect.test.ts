import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { chunks, insertStatements, ladderChunks } from "../../src/store/sql-dialect.js";

/** How batches become statements: chunks under the parameter limit, or the writer thread's few sizes. */

const range = (n: number) => Array.from({ length: n }, (_, i) => i);

describe("ladderChunks", () => {
  it("keeps every item once and in order, in runs of the max and then the rest's binary digits", () => {
    const sizes = new Set<number>();
    for (let n = 0; n <= 300; n++) {
      const parts = [...ladderChunks(range(n), 64)];
      assert.deepEqual(parts.flat(), range(n), `n = ${n}`);
      const lengths = parts.map((p) => p.length);
      const rest = n % 64;
      const digits = rest.toString(2).replace(/0/g, "").length;
      assert.equal(parts.length, Math.floor(n / 64) + digits, `n = ${n}: ${lengths.join("+")}`);
      for (let i = 1; i < lengths.length; i++) assert.ok(lengths[i]! <= lengths[i - 1]!, `n = ${n}: ${lengths.join("+")}`);
      for (const l of lengths) sizes.add(l);
    }
    // Whatever the batch sizes, a statement kind comes in these seven sizes only.
    assert.deepEqual([...sizes].sort((a, b) => a - b), [1, 2, 4, 8, 16, 32, 64]);
    assert.deepEqual(
      [...ladderChunks(range(24), 64)].map((p) => p.length),
      [16, 8],
    );
  });
});

describe("insertStatements", () => {
  const rows = (n: number) => range(n).map((i) => ({ sequence: i, payload: `p${i}`, owner: null }));

  it("with a ladder, writes any number of rows in at most seven statement texts, each row's values in order", () => {
    const texts = new Set<string>();
    for (let n = 1; n <= 200; n++) {
      const statements = insertStatements("events", rows(n), 64);
      for (const s of statements) {
        texts.add(s.sql);
        const tuples = s.sql.split("values ")[1]!.split("), (").length;
        assert.equal(s.params.length, tuples * 3, s.sql);
      }
      assert.deepEqual(
        statements.flatMap((s) => s.params),
        rows(n).flatMap((r) => [r.sequence, r.payload, r.owner]),
        `n = ${n}`,
      );
    }
    assert.equal(texts.size, 7);
  });

  it("without one, writes rows in as few statements as the parameter limit allows (PostgreSQL: a round trip each)", () => {
    assert.equal(insertStatements("events", rows(1000)).length, 1);
    assert.equal(insertStatements("events", rows(10_001)).length, 2);
    assert.deepEqual([...chunks(range(5), 2)], [[0, 1], [2, 3], [4]]);
    assert.deepEqual(insertStatements("events", []), []);
  });
});
