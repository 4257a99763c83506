import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, it } from "node:test";
import { BLOCKS, README, readBlock, withBlock } from "../../scripts/docs.js";

describe("the README's generated tables (npm run docs)", () => {
  const readme = readFileSync(README, "utf8");
  for (const [name, render] of Object.entries(BLOCKS)) {
    it(`${name} is what the code defines`, () => {
      const block = readBlock(readme, name);
      assert.ok(block !== undefined, `README.md has no ${name} block`);
      assert.equal(block, render());
    });
  }

  it("a block is replaced between its markers and nothing else changes", () => {
    const doc = "intro\n<!-- x:start -->\nold\n<!-- x:end -->\nafter\n";
    assert.equal(withBlock(doc, "x", "| new |"), "intro\n<!-- x:start -->\n| new |\n<!-- x:end -->\nafter\n");
    assert.throws(() => withBlock("no markers", "x", "t"), /no <!-- x:start -->/);
  });
});
