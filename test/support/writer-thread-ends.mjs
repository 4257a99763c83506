// Ends the SQLite writer thread (src/store/sqlite-writer.ts) at a chosen answer, as if it died
// between its COMMIT and its reply (the worst moment: the rows are durable, the callers were
// not told): the n-th answer never reaches the server, and the thread is terminated instead.
// Test code only. It swaps worker_threads.Worker in the main thread for a subclass, so the
// writer started after it is the one ended. test/durability/writer-thread.test.ts preloads it
// into a server process (NODE_OPTIONS=--import, with TASKCONTROL_TEST_WRITER_ENDS_AT=n);
// test/unit/sqlite-writer.test.ts calls endWriterThreadAt in its own process.
import { createRequire, syncBuiltinESMExports } from "node:module";

const require = createRequire(import.meta.url);
const threads = require("node:worker_threads");
const { Worker } = threads;

/** From now on, each SQLite writer thread started is ended at its `n`-th answer (0: never). */
export function endWriterThreadAt(n) {
  threads.Worker =
    n > 0
      ? class extends Worker {
          constructor(filename, options) {
            super(filename, options);
            this.answers = String(filename).includes("sqlite-writer-worker") ? 0 : -Infinity;
          }
          emit(event, ...args) {
            if (event === "message" && ++this.answers === n) {
              process.stderr.write(`writer-thread-ends: dropping answer ${n} and ending the writer thread\n`);
              void this.terminate();
              return true;
            }
            return super.emit(event, ...args);
          }
        }
      : Worker;
  syncBuiltinESMExports();
}

const fromEnv = Number(process.env.TASKCONTROL_TEST_WRITER_ENDS_AT);
if (fromEnv > 0) endWriterThreadAt(fromEnv);
