/**
 * Client mode for the Node SDK (clients/node, entry src/index.ts). The SDK is loaded at run
 * time so the kit builds without it; NodeSdk below is the part of its API the adapter uses,
 * with the names issue 15 fixes.
 */
import { fileURLToPath, pathToFileURL } from "node:url";
import type { JsonObject, JsonValue } from "@bufbuild/protobuf";
import { AdapterError, adapterErrorOf, type SdkAdapter } from "./adapter.js";
import { hostPort } from "./python-adapter.js";
import type { WireError } from "./wire.js";

const ENTRY = fileURLToPath(new URL("../../clients/node/src/index.ts", import.meta.url));

type Component = unknown;
interface TaskView {
  progress: number;
  label: string;
  status: string;
  checkpoint?: JsonObject;
}
interface BackgroundContext {
  id: string;
  signal: AbortSignal;
}
interface NodeClient {
  tasks: {
    create(o: { owner: string; label?: string; kind?: string; requestId?: string; lease?: number }): Promise<string>;
    updateProgress(id: string, progress: number, o?: { label?: string; checkpoint?: JsonObject }): Promise<unknown>;
    emitProgress(id: string, progress?: number, o?: { label?: string; checkpoint?: JsonObject }): Promise<unknown>;
    requestConfirmation(
      id: string,
      builder: unknown,
      o?: { timeoutMs?: number; timeoutAction?: string; answerers?: string[]; requestId?: string; signal?: AbortSignal },
    ): Promise<{ ok: boolean; action: string; values: JsonObject; outcome: string; answeredBy: string; defaulted: boolean }>;
    complete(id: string, result?: JsonObject): Promise<TaskView>;
    fail(id: string, message: string, details?: JsonObject): Promise<TaskView>;
    view(id: string): Promise<TaskView>;
    claim(id: string, o?: { lease?: number }): Promise<{ attempt: number }>;
    runBackground(
      fn: (task: BackgroundContext) => Promise<unknown>,
      o: { owner: string; label?: string; kind?: string; lease?: number },
    ): Promise<{ id: string; done: Promise<unknown> }>;
  };
  ui: {
    Builder: new (o?: { title?: string }) => { add(c: Component): unknown };
    Text(id: string, text: string): Component;
    Button(id: string, o: object): Component;
    TextInput(id: string, o?: object): Component;
    Checkbox(id: string, o?: object): Component;
    NumberInput(id: string, o?: object): Component;
  };
  resolveConfirmation(id: string, answer: { action: string; values?: JsonObject }): Promise<{ state: string; action: string }>;
  cancel(id: string, reason?: string): Promise<TaskView>;
  close(): void;
}
interface NodeSdk {
  connect(address: string, options?: { token?: string }): NodeClient;
}

type Args = Record<string, JsonValue> & JsonObject;

function build(client: NodeClient, title: string, components: Args[]): unknown {
  const builder = new client.ui.Builder({ title });
  for (const c of components) {
    const [kind, raw] = Object.entries(c)[0]! as [string, Args];
    const { id, ...spec } = raw;
    const cid = String(id);
    const make: Record<string, () => Component> = {
      text: () => client.ui.Text(cid, String(spec.text)),
      button: () => client.ui.Button(cid, spec),
      textInput: () => client.ui.TextInput(cid, spec),
      checkbox: () => client.ui.Checkbox(cid, spec),
      numberInput: () => client.ui.NumberInput(cid, spec),
    };
    if (!make[kind]) throw new Error(`unknown component kind ${kind}`);
    builder.add(make[kind]());
  }
  return builder;
}

/** The SDK's typed error in the kit's shape (TaskControlError: code, reason, metadata, fieldViolations). */
function sdkError(err: unknown): WireError {
  const e = err as { code?: unknown; reason?: string; metadata?: Record<string, string>; fieldViolations?: { field: string }[]; message?: string };
  if (typeof e?.code === "string" && typeof e.reason === "string") {
    return { code: e.code.toLowerCase(), reason: e.reason, metadata: { ...(e.metadata ?? {}) }, message: e.message ?? "", violations: (e.fieldViolations ?? []).map((v) => v.field) };
  }
  return adapterErrorOf(err);
}

export async function startNodeAdapter(options: { target: string; token?: string }): Promise<SdkAdapter> {
  const sdk = (await import(pathToFileURL(ENTRY).href)) as NodeSdk;
  const client = sdk.connect(hostPort(options.target), { token: options.token });
  const jobs = new Map<string, Promise<JsonValue>>();
  let live = new AbortController();
  const status = (v: TaskView) => ({ status: v.status });
  const ops: Record<string, (a: Args) => Promise<JsonValue>> = {
    async create(a) {
      return { taskId: await client.tasks.create(a as never) };
    },
    async updateProgress(a) {
      await client.tasks.updateProgress(String(a.taskId), Number(a.progress), { label: a.label as string | undefined, checkpoint: a.checkpoint as JsonObject | undefined });
      return {};
    },
    async emitProgress(a) {
      await client.tasks.emitProgress(String(a.taskId), a.progress as number | undefined, { label: a.label as string | undefined, checkpoint: a.checkpoint as JsonObject | undefined });
      return {};
    },
    async requestConfirmation(a): Promise<JsonValue> {
      const abort = new AbortController();
      const stop = () => abort.abort();
      live.signal.addEventListener("abort", stop);
      const timer = a.abortAfterMs !== undefined ? setTimeout(stop, Number(a.abortAfterMs)) : undefined;
      try {
        const d = await client.tasks.requestConfirmation(String(a.taskId), build(client, String(a.title ?? ""), a.components as Args[]), {
          timeoutMs: a.timeoutMs as number | undefined,
          timeoutAction: a.timeoutAction as string | undefined,
          answerers: a.answerers as string[] | undefined,
          requestId: a.requestId as string | undefined,
          signal: abort.signal,
        });
        return { ok: d.ok, action: d.action, values: d.values as JsonValue, outcome: d.outcome, answeredBy: d.answeredBy, defaulted: d.defaulted };
      } catch (err) {
        if (abort.signal.aborted && a.abortAfterMs !== undefined) return { aborted: true };
        throw err;
      } finally {
        clearTimeout(timer);
        live.signal.removeEventListener("abort", stop);
      }
    },
    async complete(a) {
      return status(await client.tasks.complete(String(a.taskId), a.result as JsonObject | undefined));
    },
    async fail(a) {
      return status(await client.tasks.fail(String(a.taskId), String(a.message), a.details as JsonObject | undefined));
    },
    async view(a) {
      const v = await client.tasks.view(String(a.taskId));
      return { progress: v.progress, label: v.label, status: v.status, checkpoint: v.checkpoint ?? null };
    },
    async runBackground(a) {
      let outcome: (v: JsonValue) => void = () => undefined;
      const finished = new Promise<JsonValue>((resolve) => (outcome = resolve));
      const bg = await client.tasks.runBackground(
        async (task) => {
          if (a.job === "throw") {
            outcome({ cancelled: false });
            throw new Error(String(a.message ?? "job failed"));
          }
          if (a.job === "wait") {
            await new Promise<void>((resolve) => {
              if (task.signal.aborted) resolve();
              task.signal.addEventListener("abort", () => resolve(), { once: true });
              live.signal.addEventListener("abort", () => resolve(), { once: true });
            });
            const reason = task.signal.reason as { reason?: string; message?: string } | undefined;
            outcome({ cancelled: task.signal.aborted, reason: reason?.reason ?? reason?.message ?? "" });
            throw task.signal.reason ?? new Error("stopped");
          }
          outcome({ cancelled: false });
          return a.result;
        },
        { owner: String(a.owner), label: a.label as string | undefined, kind: a.kind as string | undefined, lease: a.lease as number | undefined },
      );
      bg.done.catch(() => undefined);
      jobs.set(bg.id, finished);
      return { taskId: bg.id };
    },
    async claim(a) {
      return { attempt: Number((await client.tasks.claim(String(a.taskId), { lease: a.lease as number | undefined })).attempt) };
    },
    async jobOutcome(a) {
      const job = jobs.get(String(a.taskId));
      if (!job) throw new Error(`no background job for ${String(a.taskId)}`);
      return job;
    },
    async resolveConfirmation(a) {
      const c = await client.resolveConfirmation(String(a.confirmationId), { action: String(a.action), values: a.values as JsonObject | undefined });
      return { state: c.state, action: c.action };
    },
    async cancel(a) {
      return status(await client.cancel(String(a.taskId), a.reason as string | undefined));
    },
  };
  return {
    name: "node",
    async call(op, args) {
      const fn = ops[op];
      if (!fn) throw new Error(`unknown operation ${op}`);
      try {
        return await fn(args as Args);
      } catch (err) {
        throw new AdapterError(sdkError(err));
      }
    },
    errorOf: adapterErrorOf,
    async reset() {
      live.abort();
      live = new AbortController();
      jobs.clear();
    },
    async close() {
      live.abort();
      client.close();
    },
  };
}
