import { pathToFileURL } from "node:url";
import { createApp } from "./app.js";
import { ConfigError, loadConfig, USAGE } from "./config.js";

/** Entry point: parse config, build the app, listen, wire signals. */
export async function main(argv: string[], env: Record<string, string | undefined>): Promise<void> {
  if (argv.includes("--help") || argv.includes("-h")) {
    console.log(USAGE);
    return;
  }
  const config = loadConfig({ argv, env });
  const app = await createApp(config);
  // Harnesses and operators read this one line; logs follow as JSON.
  console.log(`taskcontrol serving grpc=${app.grpcAddress} http=${app.httpAddress}`);
  app.log.info({ grpc: app.grpcAddress, http: app.httpAddress, db: redactUrl(config.db) }, "serving");
  let stopping = false;
  const stop = (signal: NodeJS.Signals) => {
    if (stopping) {
      app.log.warn({ signal }, "second signal: exiting now");
      process.exit(1);
    }
    stopping = true;
    const started = Date.now();
    app.log.info({ signal }, "draining");
    const hard = setTimeout(() => {
      app.log.error("shutdown took too long: exiting");
      process.exit(1);
    }, config.shutdownGraceMs + 10_000);
    hard.unref();
    app.close().then(
      () => {
        app.log.info({ ms: Date.now() - started }, "stopped");
        process.exit(0);
      },
      (err) => {
        app.log.error({ err }, "shutdown failed");
        process.exit(1);
      },
    );
  };
  process.on("SIGTERM", stop);
  process.on("SIGINT", stop);
  // SIGHUP re-reads the auth file (token rotation, revocation) without dropping a call;
  // without this handler Node would exit on it.
  process.on("SIGHUP", () => {
    app.log.info({ signal: "SIGHUP" }, "reloading auth file");
    void app.reload();
  });
}

function redactUrl(db: string): string {
  return db.replace(/\/\/([^:@/]*):[^@/]*@/, "//$1:***@");
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  main(process.argv.slice(2), process.env).catch((err) => {
    console.error(err instanceof ConfigError ? `taskcontrol: ${err.message}` : err);
    process.exit(2);
  });
}
