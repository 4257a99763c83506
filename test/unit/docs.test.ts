import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { test } from "node:test";
import { fileURLToPath } from "node:url";
import { reasonsTable } from "../../scripts/docs-reasons.js";

const README = readFileSync(fileURLToPath(new URL("../../README.md", import.meta.url)), "utf8");

test("the README's table of error reasons is the one src/domain/errors.ts defines (npm run docs:reasons)", () => {
  const block = README.split("<!-- reasons-table:start -->\n")[1]?.split("\n<!-- reasons-table:end -->")[0];
  assert.equal(block, reasonsTable());
});
