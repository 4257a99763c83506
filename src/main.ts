import { pathToFileURL } from "node:url";
import { createApp } from "./app.js";
import { ConfigError, loadConfig, USAGE } from "./config.js";
import { DatabaseStartupError } from "./store/sqlite-lock.js";

/** Exit code when the database file was deleted or replaced under the running server (EX_IOERR). */
export const EXIT_DATABASE_LOST = 74;

/** Entry point: parse config, build the app, listen, wire signals. */
export async function main(argv: string[], env: Record<string, string | undefined>): Promise<void> {
  if (argv.includes("--help") || argv.includes("-h")) {
    console.log(USAGE);
    return;
  }
  const config = loadConfig({ argv, env });
  const app = await createApp(config);
  let stopping = false;
  let exitCode = 0;
  const stop = (signal: NodeJS.Signals | "database-lost") => {
    if (stopping) {
      if (signal === "database-lost") return;
      app.log.warn({ signal }, "second signal: exiting now");
      process.exit(exitCode || 1);
    }
    stopping = true;
    const started = Date.now();
    app.log.info({ signal }, "draining");
    const hard = setTimeout(() => {
      app.log.error("shutdown took too long: exiting");
      process.exit(exitCode || 1);
    }, config.shutdownGraceMs + 10_000);
    hard.unref();
    app.close().then(
      () => {
        app.log.info({ ms: Date.now() - started }, "stopped");
        process.exit(exitCode);
      },
      (err) => {
        app.log.error({ err }, "shutdown failed");
        process.exit(exitCode || 1);
      },
    );
  };
  // A supervisor must notice: the process ends non-zero instead of serving from a lost file.
  app.onFatal(() => {
    exitCode = EXIT_DATABASE_LOST;
    stop("database-lost");
  });
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);
  // SIGHUP re-reads the auth file (token rotation, revocation) without dropping a call;
  // without this handler Node would exit on it.
  process.on("SIGHUP", () => {
    app.log.info({ signal: "SIGHUP" }, "reloading auth file");
    void app.reload();
  });
  // Harnesses and operators read this one line; logs follow as JSON. Printed once the signal
  // handlers are in place, so a SIGTERM sent on seeing it drains instead of killing.
  console.log(`taskcontrol serving grpc=${app.grpcAddress} http=${app.httpAddress}`);
  app.log.info({ grpc: app.grpcAddress, http: app.httpAddress, db: redactUrl(config.db) }, "serving");
}

function redactUrl(db: string): string {
  return db.replace(/\/\/([^:@/]*):[^@/]*@/, "//$1:***@");
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  main(process.argv.slice(2), process.env).catch((err) => {
    if (err instanceof DatabaseStartupError) {
      // One line an operator reads: what, where, what to do (no driver stack).
      console.error(`taskcontrol: ${err.message}`);
      process.exit(1);
    }
    console.error(err instanceof ConfigError ? `taskcontrol: ${err.message}` : err);
    process.exit(2);
  });
}
