// Real servers for users' own tests: startTestServer() runs the taskcontrol server in this
// process, listening on 127.0.0.1 port 0, on SQLite in memory. Not a mock: the same
// composition root (src/app.ts) as `npm start`.
import { createHash, randomBytes } from "node:crypto";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { createApp } from "../../../src/app.js";
import { loadConfig } from "../../../src/config.js";
import { createLogger } from "../../../src/log.js";
import { connect, type Client } from "./client.js";
import { confirmationView, type ConfirmationView } from "./view.js";

/** A principal of the test server's auth file. */
export interface TestPrincipal {
  /** The principal's name (Confirmation.answered_by shows it). */
  readonly name: string;
  readonly role: "worker" | "user" | "gateway" | "admin";
  /** Role user only: the owner whose tasks it may see. */
  readonly owner?: string;
  /** Its bearer token. @default a random one, in `tokens[name]` */
  readonly token?: string;
}

/** Options of startTestServer(). Times in ms; the defaults are short, for tests. */
export interface TestServerOptions {
  /** Turns auth on with these principals. @default auth off (every caller acts as admin) */
  readonly principals?: readonly TestPrincipal[];
  /** An idle watch gets a bookmark after this long. @default 1000 */
  readonly bookmarkIntervalMs?: number;
  /** close() lets in-flight calls finish this long. @default 500 */
  readonly shutdownGraceMs?: number;
  /** Any other server flags, e.g. ["--watch-queue", "10"] (npm start -- --help lists them). */
  readonly args?: readonly string[];
  /** The server's log level (JSON lines on stdout). @default "silent" */
  readonly logLevel?: string;
}

/** A running test server. */
export interface TestServer {
  /** "127.0.0.1:PORT" of the gRPC listener: give it to connect(). */
  readonly address: string;
  /** "127.0.0.1:PORT" of the HTTP listener (Connect, gRPC-Web, the monitor). */
  readonly httpAddress: string;
  /** The bearer token of each principal, by name. */
  readonly tokens: Readonly<Record<string, string>>;
  /** A client of this server (as `principal`, by name, when auth is on); close() closes it too. */
  connect(principal?: string): Client;
  /** Stops the server (streams end, nothing is kept) and closes the clients it handed out. */
  close(): Promise<void>;
}

/**
 * Starts the real server in process on 127.0.0.1, ports 0, SQLite in memory, and resolves
 * once it serves. Each call is a fresh, empty server.
 */
export async function startTestServer(options: TestServerOptions = {}): Promise<TestServer> {
  const tokens: Record<string, string> = {};
  let dir: string | undefined;
  const args = [
    "--grpc-listen", "127.0.0.1:0",
    "--http-listen", "127.0.0.1:0",
    "--db", ":memory:",
    "--bookmark-interval-ms", String(options.bookmarkIntervalMs ?? 1000),
    "--shutdown-grace-ms", String(options.shutdownGraceMs ?? 500),
  ];
  if (options.principals) {
    const principals = options.principals.map((p) => {
      const token = p.token ?? randomBytes(18).toString("base64url");
      tokens[p.name] = token;
      return { name: p.name, role: p.role, owner: p.owner, token_sha256: createHash("sha256").update(token).digest("hex") };
    });
    dir = await mkdtemp(join(tmpdir(), "taskcontrol-test-server-"));
    const authFile = join(dir, "auth.json");
    await writeFile(authFile, JSON.stringify({ principals }), { mode: 0o600 });
    args.push("--auth-file", authFile);
  }
  args.push(...(options.args ?? []));
  const removeDir = async () => {
    if (dir) await rm(dir, { recursive: true, force: true });
  };
  const app = await createApp(loadConfig({ argv: args, env: {} }), { log: createLogger(options.logLevel ?? "silent") }).catch(
    async (err: unknown) => {
      await removeDir();
      throw err;
    },
  );
  const clients = new Set<Client>();
  let closing: Promise<void> | undefined;
  return {
    address: app.grpcAddress,
    httpAddress: app.httpAddress,
    tokens,
    connect(principal) {
      if (principal !== undefined && tokens[principal] === undefined) throw new RangeError(`no principal named "${principal}"`);
      const client = connect(app.grpcAddress, { token: principal === undefined ? undefined : tokens[principal] });
      clients.add(client);
      return client;
    },
    close() {
      closing ??= (async () => {
        for (const c of clients) c.close();
        try {
          await app.close();
        } finally {
          await removeDir();
        }
      })();
      return closing;
    },
  };
}

/** Which confirmation nextConfirmation() waits for. */
export interface ConfirmationFilter {
  /** Only this owner's tasks. @default every task the client may see */
  readonly owner?: string;
  /** Only this task's. */
  readonly taskId?: string;
  /** Gives up (throws) after this long, in ms. @default 10000 */
  readonly timeoutMs?: number;
}

/**
 * Resolves with the first pending confirmation that matches, one already pending included:
 * what a test does in the place of the user before it answers with client.resolveConfirmation.
 */
export async function nextConfirmation(client: Client, filter: ConfirmationFilter = {}): Promise<ConfirmationView> {
  const timeoutMs = filter.timeoutMs ?? 10_000;
  const signal = AbortSignal.timeout(timeoutMs);
  const events = client.watch({
    owner: filter.owner,
    taskIds: filter.taskId === undefined ? [] : [filter.taskId],
    includeSnapshot: true,
    signal,
  });
  for await (const event of events) {
    const e = event.event;
    const pending =
      e.case === "snapshot" ? e.value.task?.pendingConfirmation : e.case === "confirmationRequested" ? e.value.confirmation : undefined;
    if (pending) return confirmationView(pending);
  }
  throw new Error(`no confirmation was requested within ${timeoutMs} ms`);
}
