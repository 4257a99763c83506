// The client: connect(), the gateway calls (watch, resolveConfirmation, cancel) and the one
// path every unary call takes (bearer token, close signal, retries while UNAVAILABLE).
import { Code, ConnectError, createClient, type CallOptions, type Client as RpcClient } from "@connectrpc/connect";
import { createGrpcTransport, Http2SessionManager } from "@connectrpc/connect-node";
import type { JsonObject } from "@bufbuild/protobuf";
import type { SecureClientSessionOptions } from "node:http2";
import { bearer } from "../../../src/cli/client.js";
import { parseServerAddress } from "../../../src/shared/address.js";
import { TaskControlService, type WatchTasksResponse } from "../../../gen/taskcontrol/v1/task_control_service_pb.js";
import { ConfirmationNotFound, TaskControlError, toSdkError, Unavailable } from "./errors.js";
import { Retry, type RetryPolicy } from "./retry.js";
import { Tasks } from "./tasks.js";
import { ui } from "./ui.js";
import { confirmationView, taskView, type ConfirmationView, type TaskView } from "./view.js";

/** TLS settings: true for the system's roots, or PEM material (a CA to trust, a client certificate). */
export type TlsOption =
  | boolean
  | {
      /** PEM CA certificate(s) to trust instead of the system's. */
      readonly ca?: string | Buffer;
      /** PEM client certificate chain (servers started with --tls-client-ca want one). */
      readonly cert?: string | Buffer;
      /** PEM private key of cert. */
      readonly key?: string | Buffer;
      /** The name to verify the certificate against, if not the address's host. */
      readonly servername?: string;
    };

/** Options of connect(). */
export interface ConnectOptions {
  /** Sent as `authorization: Bearer <token>` on every call. @default none (auth off) */
  readonly token?: string;
  /** TLS; an https:// address implies it. @default false (plaintext h2c) */
  readonly tls?: TlsOption;
  /** Retries while the service is unreachable. */
  readonly retry?: RetryPolicy;
}

/** Options of Client.watch(). */
export interface WatchOptions {
  /** Only this owner's tasks; "" = the caller's own (everyone's with auth off or for a gateway). */
  readonly owner?: string;
  /** Only these tasks. */
  readonly taskIds?: readonly string[];
  /** Start with the unfinished tasks' current state (snapshot events, then snapshotEnd). */
  readonly includeSnapshot?: boolean;
  /** Replay the persisted events after this sequence first. */
  readonly afterSequence?: bigint | number;
  /** Ends the iteration (quietly) when aborted. */
  readonly signal?: AbortSignal;
}

/** The answer a gateway gives: a button's action and the inputs' values. */
export interface Answer {
  readonly action: string;
  readonly values?: JsonObject;
}

/** Internal: what Tasks needs of the client. */
export interface Caller {
  readonly rpc: RpcClient<typeof TaskControlService>;
  /** Runs a unary call with the close signal and retries while UNAVAILABLE. */
  unary<T>(invoke: (options: CallOptions) => Promise<T>, options?: { signal?: AbortSignal; notFound?: typeof TaskControlError }): Promise<T>;
  /** Call options for a stream: a signal that also fires on close(). */
  streamOptions(signal: AbortSignal): CallOptions;
  /** A fresh retry state for a stream's reconnects. */
  retry(): Retry;
  /** Aborted by close(). */
  readonly closed: AbortSignal;
  watch(options: WatchOptions): AsyncIterable<WatchTasksResponse>;
}

/** A connection to the taskcontrol service. Workers use `tasks` and `ui`; gateways `watch`, `resolveConfirmation`, `cancel`. */
export class Client implements Caller {
  /** The worker API (the reference page's `module_sdk.tasks`). */
  readonly tasks: Tasks;
  /** The UI primitives: `new client.ui.Builder()`, `client.ui.Button(...)`, … */
  readonly ui = ui;
  /** The generated client on the same connection, for calls the SDK does not wrap. */
  readonly rpc: RpcClient<typeof TaskControlService>;
  /** The server's base URL, e.g. "http://127.0.0.1:50051". */
  readonly baseUrl: string;
  private readonly closing = new AbortController();

  /** @internal use connect(). */
  constructor(
    private readonly session: Http2SessionManager,
    baseUrl: string,
    token: string | undefined,
    private readonly policy: RetryPolicy,
  ) {
    this.baseUrl = baseUrl;
    const interceptors = token ? [bearer(token)] : [];
    this.rpc = createClient(TaskControlService, createGrpcTransport({ baseUrl, sessionManager: session, interceptors }));
    this.tasks = new Tasks(this);
  }

  get closed(): AbortSignal {
    return this.closing.signal;
  }

  retry(): Retry {
    return new Retry(this.policy);
  }

  streamOptions(signal: AbortSignal): CallOptions {
    return { signal: AbortSignal.any([signal, this.closing.signal]) };
  }

  async unary<T>(
    invoke: (options: CallOptions) => Promise<T>,
    options: { signal?: AbortSignal; notFound?: typeof TaskControlError } = {},
  ): Promise<T> {
    const signal = options.signal ? AbortSignal.any([options.signal, this.closing.signal]) : this.closing.signal;
    const retry = this.retry();
    for (;;) {
      try {
        return await invoke({ signal });
      } catch (err) {
        if (signal.aborted) throw signal.reason;
        const sdkError = toSdkError(err, options.notFound);
        if (sdkError.grpcCode !== Code.Unavailable) throw sdkError;
        await retry.wait(sdkError, signal);
      }
    }
  }

  /**
   * Streams the task events as the contract's WatchTasksResponse messages, forever. When the
   * stream drops (UNAVAILABLE, a restart, RESOURCE_EXHAUSTED for a watcher that fell behind)
   * it resumes by itself after the last persisted sequence it delivered, so no persisted
   * event is missed or repeated (live lines sent during the gap are lost, as the contract
   * says; a drop during the snapshot restarts it). Throws SequenceOutOfRange when that
   * sequence left the server's log, Unavailable after the retry policy's limit, and any other
   * error as it comes. Stop by leaving the loop or aborting `signal`.
   */
  async *watch(options: WatchOptions = {}): AsyncGenerator<WatchTasksResponse, void, undefined> {
    const taskIds = [...(options.taskIds ?? [])];
    let sequence = options.afterSequence === undefined ? undefined : BigInt(options.afterSequence);
    let inSnapshot = options.includeSnapshot ?? false;
    const retry = this.retry();
    const outer = options.signal ? AbortSignal.any([options.signal, this.closing.signal]) : this.closing.signal;
    while (!outer.aborted) {
      const call = new AbortController();
      let error: TaskControlError;
      try {
        const stream = this.rpc.watchTasks(
          { owner: options.owner ?? "", taskIds, includeSnapshot: inSnapshot, afterSequence: sequence },
          this.streamOptions(AbortSignal.any([call.signal, outer])),
        );
        for await (const event of stream) {
          retry.reset();
          const kind = event.event.case;
          if (kind === "snapshotEnd") {
            inSnapshot = false;
            sequence = event.sequence;
          } else if (!inSnapshot && kind !== "snapshot" && !(kind === "progress" && !event.event.value.persisted)) {
            // A live line's sequence is not a resume point; persisted events and bookmarks are.
            if (sequence === undefined || event.sequence > sequence) sequence = event.sequence;
          }
          yield event;
        }
        error = new Unavailable(new ConnectError("the service ended the watch stream", Code.Unavailable));
      } catch (err) {
        if (outer.aborted) return;
        error = toSdkError(err);
        if (error.grpcCode !== Code.Unavailable && error.grpcCode !== Code.ResourceExhausted) throw error;
      } finally {
        call.abort();
      }
      try {
        await retry.wait(error, outer);
      } catch (err) {
        if (outer.aborted) return;
        throw err;
      }
    }
  }

  /**
   * Answers a pending confirmation: `action` must be one of its buttons' actions, `values`
   * keyed by input component id. The first answer wins: a later one throws FailedPrecondition
   * (reason ALREADY_RESOLVED); an unknown id throws ConfirmationNotFound.
   */
  async resolveConfirmation(confirmationId: string, answer: Answer): Promise<ConfirmationView> {
    const res = await this.unary(
      (o) => this.rpc.resolveConfirmation({ confirmationId, action: answer.action, values: answer.values }, o),
      { notFound: ConfirmationNotFound },
    );
    if (!res.confirmation) throw new TypeError("the server answered without the confirmation");
    return confirmationView(res.confirmation);
  }

  /** Cancels a task: it ends CANCELLED, a pending confirmation ends CANCELLED, its worker is told. */
  async cancel(taskId: string, reason?: string): Promise<TaskView> {
    const res = await this.unary((o) => this.rpc.cancelTask({ taskId, reason: reason ?? "" }, o));
    if (!res.task) throw new TypeError("the server answered without the task");
    return taskView(res.task);
  }

  /** Closes the connection; calls, watches and background runs still going are aborted. */
  close(): void {
    if (this.closing.signal.aborted) return;
    this.closing.abort(new Error("the taskcontrol client was closed"));
    this.session.abort();
  }
}

/**
 * Connects to the service at `address`: "host:port" (plaintext), "http://host:port" or
 * "https://host:port", the forms taskctl takes. The connection is made by the first call.
 */
export function connect(address: string, options: ConnectOptions = {}): Client {
  const parsed = parseServerAddress(address);
  const tls = options.tls ?? false;
  const secure = parsed.scheme === "https" || tls !== false;
  const baseUrl = secure ? parsed.baseUrl.replace(/^http:/, "https:") : parsed.baseUrl;
  const nodeOptions: SecureClientSessionOptions = typeof tls === "object" ? { ...tls } : {};
  const session = new Http2SessionManager(baseUrl, { pingIntervalMs: 30_000, pingIdleConnection: false, pingTimeoutMs: 10_000 }, nodeOptions);
  return new Client(session, baseUrl, options.token, options.retry ?? {});
}
