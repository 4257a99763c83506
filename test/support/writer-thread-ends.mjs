// Preloaded into a server process (NODE_OPTIONS=--import) by test/durability/writer-thread.test.ts:
// the SQLite writer thread's TASKCONTROL_TEST_WRITER_ENDS_AT-th answer never reaches the
// server, and the thread is ended instead, as if it died between its COMMIT and its reply
// (the worst moment: the rows are durable, the callers were not told). Test code only: it
// swaps worker_threads.Worker in the main thread for a subclass before the server imports it.
import { createRequire, syncBuiltinESMExports } from "node:module";

const require = createRequire(import.meta.url);
const threads = require("node:worker_threads");
const endsAt = Number(process.env.TASKCONTROL_TEST_WRITER_ENDS_AT);

if (endsAt > 0) {
  const { Worker } = threads;
  threads.Worker = class extends Worker {
    constructor(filename, options) {
      super(filename, options);
      this.answers = String(filename).includes("sqlite-writer-worker") ? 0 : -Infinity;
    }
    emit(event, ...args) {
      if (event === "message" && ++this.answers === endsAt) {
        process.stderr.write(`writer-thread-ends: dropping answer ${endsAt} and ending the writer thread\n`);
        void this.terminate();
        return true;
      }
      return super.emit(event, ...args);
    }
  };
  syncBuiltinESMExports();
}
