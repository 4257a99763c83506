import assert from "node:assert/strict";
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, describe, it } from "node:test";
import Database from "better-sqlite3";
import { startSqliteWriter } from "../../src/store/sqlite-writer.js";
import { endWriterThreadAt } from "../support/writer-thread-ends.mjs";

/** The writer thread's end, told once through onEnded; a close is not an end. */

const dir = mkdtempSync(join(tmpdir(), "taskcontrol-writer-unit-"));
after(() => rmSync(dir, { recursive: true, force: true }));

function database(name: string): string {
  const path = join(dir, name);
  const db = new Database(path);
  db.exec("create table t (n integer)");
  db.close();
  return path;
}

const insert = (n: number) => [{ sql: "insert into t (n) values (?)", params: [n] }];

describe("the SQLite writer thread", () => {
  it("ending under its caller rejects the unanswered transaction and every later one, and tells onEnded once", async () => {
    const path = database("ends.sqlite");
    // Answers: 1 the thread opened, 2 the first insert, 3 the second (dropped: the thread ends).
    endWriterThreadAt(3);
    const writer = await startSqliteWriter({ path, synchronous: "FULL" }).finally(() => endWriterThreadAt(0));
    const ended: string[] = [];
    writer.onEnded((reason) => ended.push(reason));
    await writer.transaction(insert(1));
    await assert.rejects(writer.transaction(insert(2)), { code: "SQLITE_WRITER_EXITED" });
    await assert.rejects(writer.transaction(insert(3)), { code: "SQLITE_WRITER_EXITED" });
    assert.deepEqual(ended, ["the SQLite writer thread exited (1)"]);
    await writer.close();
    assert.equal(ended.length, 1);
    // The unanswered insert had committed: what is durable does not depend on the answer.
    const db = new Database(path, { readonly: true });
    assert.deepEqual(db.prepare("select n from t order by n").pluck().all(), [1, 2]);
    db.close();
  });

  it("closing answers what was posted and is not an end", async () => {
    const writer = await startSqliteWriter({ path: database("closes.sqlite"), synchronous: "FULL" });
    const ended: string[] = [];
    writer.onEnded((reason) => ended.push(reason));
    const last = writer.transaction(insert(1));
    await writer.close();
    await last;
    await assert.rejects(writer.transaction(insert(2)), { code: "SQLITE_WRITER_CLOSED" });
    assert.deepEqual(ended, []);
  });
});
