// taskctl: the command-line client of taskcontrol. `main(argv)` parses the command line with
// commander (global options go before or after the command) and runs one command against the
// gRPC listener; bin/taskctl.mjs calls it.
import { Command, CommanderError, Option } from "commander";
import { ConfirmationSchema, TaskStatus, type Confirmation } from "../../gen/taskcontrol/v1/task_pb.js";
import { parseLimit, parseSeconds, parseStatuses, parseStepMs, parseValues, str, strs } from "./args.js";
import { createCliClient, DEFAULT_SERVER, failureText, type TaskControlClient } from "./client.js";
import { runDemo } from "./demo.js";
import { runHistory } from "./history.js";
import { EXIT, println, processIo, UsageError, type CliIo } from "./io.js";
import { actionsOf, describeTask, jsonLine, listHeader, listLayout, listRow, taskJson } from "./render.js";
import { runWatch } from "./watch.js";

/** Options a command reads, by commander's camelCase name (`--step-ms` → `stepMs`). */
export type OptionValues = Readonly<Record<string, string | boolean | string[] | undefined>>;

/** Parsed command line shared by every command. */
export interface Invocation {
  /** The command name. */
  readonly command: string;
  /** Its positional arguments (ids). */
  readonly args: readonly string[];
  /** Its options and the global ones, by camelCase name. */
  readonly options: OptionValues;
  /** --json given. */
  readonly json: boolean;
}

/** `--help` (or `help [command]`) asked: the text to print. */
export interface HelpRequest {
  readonly help: string;
}

/** Collects a repeatable option's values in order. */
const repeat = (value: string, previous: string[] | undefined): string[] => [...(previous ?? []), value];

/** One taskctl command: its name, one-line summary, and its arguments and options. */
interface CommandSpec {
  readonly name: string;
  readonly summary: string;
  define(cmd: Command): void;
}

/**
 * Every command. Adding one is adding an entry here and a case in run(); its options are
 * read back from Invocation.options by camelCase name.
 */
const COMMANDS: readonly CommandSpec[] = [
  {
    name: "watch",
    summary: "live progress bars; answer confirmations in place",
    define: (c) =>
      c
        .option("--owner <owner>", "only this owner's tasks")
        .option("--task <task-id>", "only this task (repeatable); ends when all of them ended", repeat)
        .option("--keep-finished <seconds>", "how long a finished task stays on screen", "10"),
  },
  {
    name: "list",
    summary: "tasks, newest first",
    define: (c) =>
      c
        .option("--owner <owner>", "only this owner's tasks")
        .option("--status <status>", "only these statuses (repeatable, comma-separated)", repeat)
        .option("--limit <n>", "rows per page (default: what fits the terminal, 100 when piped)")
        .option("--page-token <token>", "the next page, as the previous page's last line says")
        .option("--all", "every page, however many"),
  },
  {
    name: "get",
    summary: "one task in full",
    define: (c) => c.argument("<task-id>", "the task"),
  },
  {
    name: "history",
    summary: "the task's events: milestones, decisions, status changes",
    define: (c) => c.argument("<task-id>", "the task"),
  },
  {
    name: "confirm",
    summary: "answer a pending confirmation",
    define: (c) =>
      c
        .argument("<confirmation-id>", "the confirmation")
        .option("--action <action>", "one of its buttons' actions (required)")
        .option("--value <k=v>", "an input's value: k=v, or k:=json (repeatable)", repeat)
        .option("--owner <owner>", "where to look the confirmation up (to check the action and type the values)"),
  },
  {
    name: "cancel",
    summary: "cancel a task",
    define: (c) => c.argument("<task-id>", "the task").option("--reason <text>", "why (shown to its worker)"),
  },
  {
    name: "demo",
    summary: "the ten-step demo task, then a confirmation (you act as its worker)",
    define: (c) =>
      c
        .option("--owner <owner>", "the task's owner (default $TASKCONTROL_OWNER, else demo: the monitor's /?owner=demo)")
        .option("--step-ms <ms>", "pause before each step", "1500"),
  },
];

const FOOTER = `
Statuses: running, waiting, succeeded, failed, cancelled.
Exit status: 0 ok, 1 call failed, 2 usage, 3 demo task cancelled, 130 interrupted.`;

/** The commander program: global options, then every command; output goes to `sink`. */
function program(sink: (text: string) => void, chosen: (inv: Invocation) => void): Command {
  const root = new Command("taskctl")
    .usage("[options] <command> [options]")
    .description("The command-line client of taskcontrol: watch, list, answer and cancel tasks.")
    .addOption(new Option("--server <url>", `gRPC listener: host:port, http:// or https:// (default $TASKCONTROL_ADDRESS or ${DEFAULT_SERVER})`))
    .option("--token <token>", "bearer token (default $TASKCONTROL_TOKEN)")
    .option("--json", "one JSON object per line on stdout, for scripts")
    .helpOption("-h, --help", "this text")
    .addHelpText("after", FOOTER)
    .configureHelp({ showGlobalOptions: true })
    .showSuggestionAfterError(true)
    .exitOverride()
    .configureOutput({ writeOut: sink, writeErr: sink, outputError: () => {} });
  for (const spec of COMMANDS) {
    const cmd = root.command(spec.name).description(spec.summary).helpOption("-h, --help", "this text");
    spec.define(cmd);
    cmd.exitOverride().configureOutput({ writeOut: sink, writeErr: sink, outputError: () => {} });
    cmd.action((...received: unknown[]) => {
      const self = received.at(-1) as Command;
      const options = self.optsWithGlobals<Record<string, string | boolean | string[] | undefined>>();
      chosen({ command: spec.name, args: self.args, options, json: options["json"] === true });
    });
  }
  return root;
}

/** Parses argv (without node and script); throws UsageError on mistakes. */
export function parseInvocation(argv: readonly string[]): Invocation | HelpRequest {
  let text = "";
  let inv: Invocation | undefined;
  const root = program(
    (s) => {
      text += s;
    },
    (i) => {
      inv = i;
    },
  );
  if (argv.length === 0) throw new UsageError("missing command");
  try {
    root.parse([...argv], { from: "user" });
  } catch (err) {
    if (!(err instanceof CommanderError)) throw err;
    if (err.code === "commander.helpDisplayed" || err.code === "commander.help" || err.code === "commander.version") {
      return { help: text };
    }
    throw new UsageError(err.message.replace(/^error: /, "").replace(/\s*\n\s*/g, " "));
  }
  if (inv === undefined) throw new UsageError("missing command");
  return inv;
}

/** Runs taskctl with argv (process.argv.slice(2)); resolves to the exit status. */
export async function main(argv: readonly string[], io: CliIo = processIo()): Promise<number> {
  let inv: Invocation | HelpRequest;
  try {
    inv = parseInvocation(argv);
  } catch (err) {
    println(io.stderr, `taskctl: ${(err as Error).message}`);
    println(io.stderr, "Run `taskctl --help` for usage.");
    return EXIT.usage;
  }
  if ("help" in inv) {
    io.stdout.write(inv.help);
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
      return list(client, io, inv);
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
        keepFinishedMs: parseSeconds("--keep-finished", str(o["keepFinished"])) * 1000,
      });
    case "demo":
      return runDemo({
        client,
        io,
        json: inv.json,
        owner: str(o["owner"]) ?? defaultOwner(io),
        stepMs: parseStepMs(str(o["stepMs"])),
      });
    default:
      throw new UsageError(`unknown command "${inv.command}"`);
  }
}

/**
 * `taskctl list`: one page of the table (what fits the terminal, or --limit rows), then, on
 * stderr, how to get the next page when more exist; --all reads every page.
 */
async function list(client: TaskControlClient, io: CliIo, inv: Invocation): Promise<number> {
  const o = inv.options;
  const owner = str(o["owner"]) ?? "";
  const statuses = parseStatuses(strs(o["status"]));
  const all = o["all"] === true;
  const tty = io.stdout.isTTY === true;
  const limit = parseLimit(str(o["limit"])) ?? (tty ? Math.max(10, (io.stdout.rows ?? 24) - 4) : 100);
  let pageToken = str(o["pageToken"]) ?? "";
  let printed = 0;
  let layout: ReturnType<typeof listLayout> | undefined;
  do {
    const want = all ? 1000 : Math.min(limit - printed, 1000);
    const res = await client.listTasks({ owner, statuses, pageSize: want, pageToken });
    if (layout === undefined && !inv.json) {
      layout = listLayout(res.tasks, tty ? (io.stdout.columns ?? 100) - 1 : undefined);
      println(io.stdout, listHeader(layout));
    }
    for (const t of res.tasks) println(io.stdout, inv.json ? taskJson(t) : listRow(t, layout));
    printed += res.tasks.length;
    pageToken = res.nextPageToken;
  } while (pageToken !== "" && (all || printed < limit));
  if (pageToken !== "") {
    const again = ["taskctl list", ...(owner ? [`--owner ${owner}`] : []), ...strs(o["status"]).map((st) => `--status ${st}`)];
    if (str(o["limit"]) !== undefined) again.push(`--limit ${limit}`);
    again.push(`--page-token ${pageToken}`);
    println(io.stderr, `taskctl: ${printed} task${printed === 1 ? "" : "s"} shown, more exist; next page: ${again.join(" ")} (or --all)`);
  } else if (printed === 0 && !inv.json) {
    println(io.stderr, "taskctl: no tasks");
  }
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
 * The demo's owner: $TASKCONTROL_OWNER, else "demo", the owner the Python examples use too,
 * so every demo shows at the monitor's /?owner=demo.
 */
function defaultOwner(io: CliIo): string {
  return io.env["TASKCONTROL_OWNER"] || DEMO_OWNER;
}

/** The owner of every demo (taskctl demo, the Python examples) unless TASKCONTROL_OWNER says otherwise. */
export const DEMO_OWNER = "demo";
