// Preloaded into the service child by `bench/run.ts --profile` (NODE_OPTIONS=--import …),
// because Node 20 refuses --cpu-prof in NODE_OPTIONS. Starts the V8 sampling profiler at
// once and writes BENCH_CPU_PROFILE_DIR/CPU.<pid>.cpuprofile when the process exits.
import { Session } from "node:inspector";
import { mkdirSync, writeFileSync } from "node:fs";
import { join } from "node:path";

const dir = process.env.BENCH_CPU_PROFILE_DIR ?? ".";
const session = new Session();
session.connect();
session.post("Profiler.enable");
session.post("Profiler.setSamplingInterval", { interval: Number(process.env.BENCH_CPU_PROFILE_INTERVAL_US ?? 500) });
session.post("Profiler.start");
let written = false;
process.on("exit", () => {
  if (written) return;
  written = true;
  // The in-thread session answers synchronously, so this works inside 'exit'.
  session.post("Profiler.stop", (err, result) => {
    if (err) return;
    mkdirSync(dir, { recursive: true });
    writeFileSync(join(dir, `CPU.${process.pid}.cpuprofile`), JSON.stringify(result.profile));
  });
});
