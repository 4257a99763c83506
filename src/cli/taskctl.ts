// taskctl: the command-line client of taskcontrol. `main(argv)` parses the command line and
// runs one command against the gRPC listener; bin/taskctl.mjs calls it.
import { parseArgs, type ParseArgsConfig } from "node:util";
import { userInfo } from "node:os";
import type { JsonObject, JsonValue } from "@bufbuild/protobuf";
import { ConfirmationSchema, TaskStatus, type Confirmation } from "../../gen/taskcontrol/v1/task_pb.js";
import { createCliClient, DEFAULT_SERVER, failureText, type TaskControlClient } from "./client.js";
import { runDemo } from "./demo.js";
import { runHistory } from "./history.js";
import { EXIT, println, processIo, UsageError, type CliIo } from "./io.js";
import { actionsOf, describeTask, jsonLine, LIST_HEADER, listRow, taskJson } from "./render.js";
import { runWatch } from "./watch.js";

/** The usage text printed by --help and after usage errors. */
export const USAGE = `Usage: taskctl <command> [options]

Commands:
  watch [--owner o] [--task id ...]       live progress bars; answer confirmations in place
  list [--owner o] [--status s ...] [--limit n]
  get <task-id>
  history <task-id>                       the task's events: milestones, decisions, status
  confirm <confirmation-id> --action a [--value k=v ...] [--value k:=json ...]
  cancel <task-id> [--reason text]
  demo [--owner o] [--step-ms 1500]       ten progress steps, then a confirmation

Options for every command:
  --server URL   gRPC listener (default $TASKCONTROL_ADDRESS or ${DEFAULT_SERVER})
  --token T      bearer token (default $TASKCONTROL_TOKEN)
  --json         one JSON object per line on stdout, for scripts
  -h, --help     this text

Statuses: running, waiting, succeeded, failed, cancelled.
Exit status: 0 ok, 1 call failed, 2 usage, 3 demo task cancelled, 130 interrupted.`;

type Options = NonNullable<ParseArgsConfig["options"]>;

const COMMON: Options = {
  server: { type: "string" },
  token: { type: "string" },
  json: { type: "boolean", default: false },
  help: { type: "boolean", short: "h", default: false },
};

const COMMANDS: Record<string, { options: Options; positionals: number }> = {
  watch: { options: { owner: { type: "string" }, task: { type: "string", multiple: true } }, positionals: 0 },
  list: {
    options: { owner: { type: "string" }, status: { type: "string", multiple: true }, limit: { type: "string" } },
    positionals: 0,
  },
  get: { options: {}, positionals: 1 },
  history: { options: {}, positionals: 1 },
  confirm: {
    options: {
      action: { type: "string" },
      value: { type: "string", multiple: true },
      owner: { type: "string" },
    },
    positionals: 1,
  },
  cancel: { options: { reason: { type: "string" } }, positionals: 1 },
  demo: { options: { owner: { type: "string" }, "step-ms": { type: "string" } }, positionals: 0 },
};

/** Parsed command line shared by every command. */
export interface Invocation {
  /** The command name. */
  readonly command: string;
  /** Its positional arguments (ids). */
  readonly args: readonly string[];
  /** Its options by long name. */
  readonly options: Readonly<Record<string, string | boolean | string[] | undefined>>;
  /** --json given. */
  readonly json: boolean;
}

/** Parses argv (without node and script); throws UsageError on mistakes. */
export function parseInvocation(argv: readonly string[]): Invocation | "help" {
  const command = argv.find((a) => !a.startsWith("-"));
  if (command === undefined) {
    if (argv.includes("--help") || argv.includes("-h")) return "help";
    throw new UsageError("missing command");
  }
  const spec = COMMANDS[command];
  if (spec === undefined) throw new UsageError(`unknown command "${command}"`);
  const rest = [...argv];
  rest.splice(rest.indexOf(command), 1);
  let parsed;
  try {
    parsed = parseArgs({ args: rest, options: { ...COMMON, ...spec.options }, allowPositionals: true, strict: true });
  } catch (err) {
    throw new UsageError(err instanceof Error ? err.message : String(err));
  }
  if (parsed.values["help"] === true) return "help";
  if (parsed.positionals.length !== spec.positionals) {
    throw new UsageError(
      spec.positionals === 0
        ? `${command} takes no arguments, got "${parsed.positionals.join(" ")}"`
        : `${command} needs exactly one id`,
    );
  }
  return {
    command,
    args: parsed.positionals,
    options: parsed.values as Invocation["options"],
    json: parsed.values["json"] === true,
  };
}

/** Runs taskctl with argv (process.argv.slice(2)); resolves to the exit status. */
export async function main(argv: readonly string[], io: CliIo = processIo()): Promise<number> {
  let inv: Invocation | "help";
  try {
    inv = parseInvocation(argv);
  } catch (err) {
    println(io.stderr, `taskctl: ${(err as Error).message}`);
    println(io.stderr, "Run `taskctl --help` for usage.");
    return EXIT.usage;
  }
  if (inv === "help") {
    println(io.stdout, USAGE);
    return EXIT.ok;
  }
  const server = str(inv.options["server"]) ?? io.env["TASKCONTROL_ADDRESS"] ?? DEFAULT_SERVER;
  const token = str(inv.options["token"]) ?? io.env["TASKCONTROL_TOKEN"] ?? undefined;
  let client: TaskControlClient;
  try {
    client = createCliClient({ server, token: token === "" ? undefined : token });
  } catch (err) {
    const from = str(inv.options["server"]) !== undefined ? "--server" : "TASKCONTROL_ADDRESS";
    println(io.stderr, `taskctl: ${from} ${(err as Error).message}; give host:port, http://host:port or https://host:port`);
    return EXIT.usage;
  }
  try {
    return await run(inv, client, io);
  } catch (err) {
    if (err instanceof UsageError) {
      println(io.stderr, `taskctl: ${err.message}`);
      return EXIT.usage;
    }
    if (io.signal.aborted) return EXIT.interrupted;
    println(io.stderr, `taskctl: ${failureText(err, server)}`);
    return EXIT.error;
  }
}

async function run(inv: Invocation, client: TaskControlClient, io: CliIo): Promise<number> {
  const o = inv.options;
  switch (inv.command) {
    case "list":
      return list(client, io, inv.json, str(o["owner"]) ?? "", parseStatuses(strs(o["status"])), parseLimit(str(o["limit"])));
    case "get": {
      const res = await client.getTask({ taskId: inv.args[0]! });
      if (res.task === undefined) throw new Error("the server returned no task");
      println(io.stdout, inv.json ? taskJson(res.task) : describeTask(res.task));
      return EXIT.ok;
    }
    case "history":
      return runHistory({ client, io, json: inv.json, taskId: inv.args[0]! });
    case "cancel": {
      const res = await client.cancelTask({ taskId: inv.args[0]!, reason: str(o["reason"]) ?? "" });
      if (res.task === undefined) throw new Error("the server returned no task");
      println(io.stdout, inv.json ? taskJson(res.task) : `cancelled ${res.task.id} (${res.task.label})`);
      return EXIT.ok;
    }
    case "confirm":
      return confirm(client, io, inv, inv.args[0]!);
    case "watch":
      return runWatch({
        client,
        io,
        json: inv.json,
        owner: str(o["owner"]) ?? "",
        taskIds: strs(o["task"]),
      });
    case "demo":
      return runDemo({
        client,
        io,
        json: inv.json,
        owner: str(o["owner"]) ?? defaultOwner(io),
        stepMs: parseStepMs(str(o["step-ms"])),
      });
    default:
      throw new UsageError(`unknown command "${inv.command}"`);
  }
}

async function list(
  client: TaskControlClient,
  io: CliIo,
  json: boolean,
  owner: string,
  statuses: TaskStatus[],
  limit: number,
): Promise<number> {
  let pageToken = "";
  let printed = 0;
  let first = true;
  do {
    const res = await client.listTasks({ owner, statuses, pageSize: Math.min(limit - printed, 1000), pageToken });
    if (first && !json) println(io.stdout, LIST_HEADER);
    first = false;
    for (const t of res.tasks) {
      if (printed >= limit) break;
      println(io.stdout, json ? taskJson(t) : listRow(t));
      printed += 1;
    }
    pageToken = res.nextPageToken;
  } while (pageToken !== "" && printed < limit);
  return EXIT.ok;
}

async function confirm(client: TaskControlClient, io: CliIo, inv: Invocation, confirmationId: string): Promise<number> {
  const action = str(inv.options["action"]);
  if (action === undefined || action === "") throw new UsageError("confirm needs --action");
  // Knowing the surface lets us check the action and type the values (checkbox → bool).
  const surface = await findPending(client, confirmationId, str(inv.options["owner"]) ?? "");
  if (surface !== undefined) {
    const actions = actionsOf(surface.components);
    if (!actions.includes(action)) {
      throw new UsageError(`action "${action}" is not one of this confirmation's: ${actions.join(", ")}`);
    }
  }
  const values = parseValues(strs(inv.options["value"]), surface);
  const res = await client.resolveConfirmation({ confirmationId, action, values });
  const c = res.confirmation;
  if (inv.json) {
    if (c !== undefined) println(io.stdout, jsonLine(ConfirmationSchema, c));
  } else {
    println(io.stdout, `answered ${confirmationId}: ${action}`);
  }
  return EXIT.ok;
}

/** Finds a pending confirmation by id among the waiting tasks the caller may see. */
async function findPending(
  client: TaskControlClient,
  confirmationId: string,
  owner: string,
): Promise<Confirmation | undefined> {
  try {
    let pageToken = "";
    for (let page = 0; page < 10; page += 1) {
      const res = await client.listTasks({
        owner,
        statuses: [TaskStatus.WAITING_CONFIRMATION],
        pageSize: 1000,
        pageToken,
      });
      const hit = res.tasks.find((t) => t.pendingConfirmation?.id === confirmationId);
      if (hit !== undefined) return hit.pendingConfirmation;
      pageToken = res.nextPageToken;
      if (pageToken === "") break;
    }
  } catch {
    // Listing may be denied to this caller; answering still works untyped.
  }
  return undefined;
}

/**
 * Parses --value pairs: `k=v` is a string (a bool for a checkbox when the surface is known),
 * `k:=json` is raw JSON.
 */
export function parseValues(pairs: readonly string[], surface?: Confirmation): JsonObject {
  const kinds = new Map<string, string | undefined>();
  for (const c of surface?.components ?? []) kinds.set(c.id, c.kind.case);
  const out: JsonObject = {};
  for (const pair of pairs) {
    const raw = pair.indexOf(":=");
    const eq = pair.indexOf("=");
    if (eq <= 0) throw new UsageError(`--value wants k=v or k:=json, got "${pair}"`);
    let key: string;
    let value: JsonValue;
    if (raw > 0 && raw < eq) {
      key = pair.slice(0, raw);
      try {
        value = JSON.parse(pair.slice(raw + 2)) as JsonValue;
      } catch {
        throw new UsageError(`--value ${key}:= needs JSON, got "${pair.slice(raw + 2)}"`);
      }
    } else {
      key = pair.slice(0, eq);
      const text = pair.slice(eq + 1);
      value = kinds.get(key) === "checkbox" ? parseBool(key, text) : text;
    }
    if (surface !== undefined) {
      const kind = kinds.get(key);
      if (kind === undefined || kind === "text" || kind === "button") {
        const inputs = [...kinds].filter(([, k]) => k === "textInput" || k === "select" || k === "checkbox");
        throw new UsageError(
          `"${key}" is not an input of this confirmation; inputs: ${inputs.map(([id]) => id).join(", ") || "none"}`,
        );
      }
    }
    out[key] = value;
  }
  return out;
}

function parseBool(key: string, text: string): boolean {
  const t = text.toLowerCase();
  if (["true", "yes", "y", "1", "on"].includes(t)) return true;
  if (["false", "no", "n", "0", "off"].includes(t)) return false;
  throw new UsageError(`checkbox "${key}" takes true or false, got "${text}"`);
}

const STATUS_NAMES: Record<string, TaskStatus> = {
  running: TaskStatus.RUNNING,
  waiting: TaskStatus.WAITING_CONFIRMATION,
  waiting_confirmation: TaskStatus.WAITING_CONFIRMATION,
  succeeded: TaskStatus.SUCCEEDED,
  failed: TaskStatus.FAILED,
  cancelled: TaskStatus.CANCELLED,
  canceled: TaskStatus.CANCELLED,
};

/** Parses --status values (repeatable, comma-separated, any case, TASK_STATUS_ prefix allowed). */
export function parseStatuses(values: readonly string[]): TaskStatus[] {
  const out: TaskStatus[] = [];
  for (const v of values.flatMap((s) => s.split(","))) {
    const key = v.trim().toLowerCase().replace(/^task_status_/, "").replace(/-/g, "_");
    if (key === "") continue;
    const s = STATUS_NAMES[key];
    if (s === undefined) throw new UsageError(`unknown status "${v}"; use ${Object.keys(STATUS_NAMES).join(", ")}`);
    if (!out.includes(s)) out.push(s);
  }
  return out;
}

function parseLimit(v: string | undefined): number {
  if (v === undefined) return 100;
  const n = Number(v);
  if (!Number.isInteger(n) || n < 1) throw new UsageError(`--limit wants a positive integer, got "${v}"`);
  return n;
}

function parseStepMs(v: string | undefined): number {
  if (v === undefined) return 1500;
  const n = Number(v);
  if (!Number.isFinite(n) || n < 0 || n > 3_600_000) throw new UsageError(`--step-ms wants milliseconds, got "${v}"`);
  return n;
}

function defaultOwner(io: CliIo): string {
  const fromEnv = io.env["TASKCONTROL_OWNER"] ?? io.env["USER"];
  if (fromEnv) return fromEnv;
  try {
    return userInfo().username || "demo";
  } catch {
    return "demo";
  }
}

function str(v: unknown): string | undefined {
  return typeof v === "string" ? v : undefined;
}

function strs(v: unknown): string[] {
  return Array.isArray(v) ? v.filter((x): x is string => typeof x === "string") : [];
}
