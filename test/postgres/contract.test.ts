import { it } from "node:test";
import { probePostgres } from "../support/pg.js";

/**
 * The end-to-end contract suites once more, each app on a fresh PostgreSQL database (one
 * replica: every semantic must hold on the feed-published path as it does on SQLite).
 */

const pg = await probePostgres();
if (pg.ok) {
  process.env.TASKCONTROL_TEST_DIALECT = "postgresql";
  process.env.TASKCONTROL_TEST_COMPOSED = "1";
  await import("../e2e/contract.test.js");
  await import("../e2e/connect.test.js");
  await import("../e2e/seed-examples.test.js");
  await import("../e2e/watch-guarantees.test.js");
} else {
  it("the contract suites on PostgreSQL", { skip: pg.reason }, () => undefined);
}
