import { pathToFileURL } from "node:url";
import { createApp } from "./app.js";
import { type Config, ConfigError, loadConfig, USAGE } from "./config.js";
import { DatabaseStartupError } from "./store/sqlite-lock.js";
import { ListenError } from "./transport/listen.js";

/** Exit code when the database file was deleted or replaced under the running server (EX_IOERR). */
export const EXIT_DATABASE_LOST = 74;

/** Entry point: parse config, build the app, listen, wire signals. */
export async function main(argv: string[], env: Record<string, string | undefined>): Promise<void> {
  if (argv.includes("--help") || argv.includes("-h")) {
    console.log(USAGE);
    return;
  }
  const config = loadConfig({ argv, env });
  const app = await createApp(config).catch((err: unknown) => {
    throw new StartupError(config, err);
  });
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

/** A failure while the app starts (after the configuration parsed), with the config to name flags. */
class StartupError extends Error {
  constructor(
    readonly config: Config,
    override readonly cause: unknown,
  ) {
    super("start-up failed", { cause });
  }
}

/**
 * One line for a start-up failure, naming the flag or resource and what to do, and the exit
 * code: 2 for bad configuration (the operator must change a flag), 1 for a failure at run time.
 */
export function describeStartupFailure(err: unknown): { line: string; code: 1 | 2 } {
  const config = err instanceof StartupError ? err.config : undefined;
  const cause = err instanceof StartupError ? err.cause : err;
  const oneLine = (text: string) => `taskcontrol: ${text.replace(/\s*\n\s*/g, " ")}`;
  if (cause instanceof ConfigError) return { line: oneLine(cause.message), code: 2 };
  // Already one line an operator reads: what, where, what to do (no driver stack).
  if (cause instanceof DatabaseStartupError) return { line: oneLine(cause.message), code: 1 };
  if (cause instanceof ListenError) {
    const flag = config && cause.address === config.httpListen ? "--http-listen" : "--grpc-listen";
    return { line: oneLine(`${flag}: ${cause.message}`), code: 1 };
  }
  const message = cause instanceof Error ? cause.message || cause.name : String(cause);
  if (config && isDatabaseError(cause)) {
    const db = redactUrl(config.db);
    const hint = /^postgres(ql)?:\/\//.test(config.db)
      ? "is PostgreSQL running there, and are the user, password and database right?"
      : "is the path writable and the file a taskcontrol SQLite database?";
    return { line: oneLine(`cannot open the database --db ${db}: ${message.split(config.db).join(db)} (${hint})`), code: 1 };
  }
  return { line: oneLine(`start-up failed: ${message}`), code: 1 };
}

/** Errors of the drivers (pg, sqlite3) and of MikroORM's connection layer. */
function isDatabaseError(err: unknown): boolean {
  const e = err as { code?: unknown; name?: unknown } | null;
  const code = typeof e?.code === "string" ? e.code : "";
  return (
    /^(SQLITE_|ECONNREFUSED$|ECONNRESET$|ENOTFOUND$|EAI_AGAIN$|ETIMEDOUT$|EHOSTUNREACH$|28|3D000$|57P0|53)/.test(code) ||
    /^(DatabaseError|ConnectionException|DriverException)$/.test(String(e?.name ?? ""))
  );
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? "").href) {
  main(process.argv.slice(2), process.env).catch((err) => {
    const { line, code } = describeStartupFailure(err);
    console.error(line);
    // The stack is for whoever debugs the server, not for an operator reading the line above.
    if (err instanceof StartupError && /^(debug|trace)$/.test(err.config.logLevel)) console.error(err.cause);
    process.exit(code);
  });
}
