// Shared by the security and ops suites: an auth file with one principal per role, and one
// way to call any RPC on either listener and read back the status code.
import { createHash, randomBytes } from "node:crypto";
import { mkdtempSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { after, before } from "node:test";
import { Code, ConnectError, createClient, type Client } from "@connectrpc/connect";
import { createConnectTransport } from "@connectrpc/connect-node";
import * as grpc from "@grpc/grpc-js";
import { startTestApp, type TestApp } from "../support/app.js";
import type { ComponentInit } from "../support/flows.js";
import { trackLeaks } from "../support/leaks.js";
import { TaskControlService } from "../../gen/taskcontrol/v1/task_control_service_pb.js";

/** The listeners a call can go through. */
export type Listener = "grpc" | "http";
/** Both listeners, for tests that must hold on each. */
export const LISTENERS: readonly Listener[] = ["grpc", "http"];

/** The principals of the test auth file, by name; tokens are made fresh per run. */
export const PRINCIPALS = {
  worker: { name: "worker-1", role: "worker" },
  alice: { name: "alice-ui", role: "user", owner: "alice" },
  /** A second user of owner alice (a confirmation may name only one of them as its answerer). */
  alicePhone: { name: "alice-phone", role: "user", owner: "alice" },
  bob: { name: "bob-ui", role: "user", owner: "bob" },
  gateway: { name: "gateway-1", role: "gateway" },
  admin: { name: "ops", role: "admin" },
} as const;
/** A principal of the test auth file. */
export type Who = keyof typeof PRINCIPALS;

/** sha-256 hex of a token, as the auth file stores it. */
export function sha256(token: string): string {
  return createHash("sha256").update(token).digest("hex");
}

/** Writes an auth file for `who` (default: every principal) and returns the tokens. */
export function writeAuthFile(
  path: string,
  tokens?: Partial<Record<Who, string>>,
  who: readonly Who[] = Object.keys(PRINCIPALS) as Who[],
): Record<Who, string> {
  const out = {} as Record<Who, string>;
  for (const w of Object.keys(PRINCIPALS) as Who[]) out[w] = tokens?.[w] ?? randomBytes(24).toString("base64url");
  const principals = who.map((w) => ({ ...PRINCIPALS[w], token_sha256: sha256(out[w]) }));
  writeFileSync(path, JSON.stringify({ principals }, null, 2));
  return out;
}

/** Path of the auth file inside a test directory. */
export function authPath(dir: string): string {
  return join(dir, "auth.json");
}

/** What a call ended with: a status code (0 = OK), its message, and the first response. */
export interface Outcome {
  code: number;
  message: string;
  response?: any;
}

/** Clients on the HTTP listener: HTTP/1.1 (browsers) and h2c (client streaming needs HTTP/2). */
export interface HttpClients {
  h1: Client<typeof TaskControlService>;
  h2: Client<typeof TaskControlService>;
}

/** Connect clients for a test app's HTTP listener. */
export function httpClients(address: string, binary = false): HttpClients {
  const baseUrl = `http://${address}`;
  return {
    h1: createClient(TaskControlService, createConnectTransport({ baseUrl, httpVersion: "1.1", useBinaryFormat: binary })),
    // Node's HTTP/2 client counts the unsent rest of a request the server refused against its
    // session (10 MB by default) and then resets every stream of its own session; the server
    // is fine, but the hostile-input tests send many such requests on one session.
    h2: createClient(
      TaskControlService,
      createConnectTransport({ baseUrl, httpVersion: "2", useBinaryFormat: binary, nodeOptions: { maxSessionMemory: 1024 } }),
    ),
  };
}

const KIND = new Map(TaskControlService.methods.map((m) => [m.name, m] as const));

function fromGrpc(err: unknown): Outcome {
  const e = err as grpc.ServiceError;
  return { code: typeof e.code === "number" ? e.code : -1, message: e.details ?? String(err) };
}

function fromConnect(err: unknown): Outcome {
  const e = ConnectError.from(err);
  return { code: e.code, message: e.rawMessage };
}

/**
 * Calls `rpc` on a listener with the given headers and resolves with its outcome. Server
 * streams are read up to their first message, then cancelled; client streams send `request`
 * (an array of messages).
 */
export async function invoke(
  t: TestApp,
  http: HttpClients,
  listener: Listener,
  rpc: string,
  request: any,
  headers: Record<string, string> = {},
): Promise<Outcome> {
  const method = KIND.get(rpc);
  if (!method) throw new Error(`no rpc ${rpc}`);
  if (listener === "grpc") {
    try {
      if (method.methodKind === "unary") return { code: 0, message: "", response: await t.grpc.byName.unary(rpc, request, headers) };
      if (method.methodKind === "client_streaming") {
        return { code: 0, message: "", response: await t.grpc.byName.clientStream(rpc, request as object[], headers) };
      }
      const { responses, call } = t.grpc.byName.serverStream(rpc, request, headers);
      call.on("error", () => {});
      try {
        for await (const first of responses) return { code: 0, message: "", response: first };
        return { code: 0, message: "" };
      } finally {
        call.cancel();
      }
    } catch (err) {
      return fromGrpc(err);
    }
  }
  const fn = (method.methodKind === "client_streaming" ? http.h2 : http.h1)[method.localName as keyof HttpClients["h1"]] as (
    req: unknown,
    opts: unknown,
  ) => any;
  try {
    if (method.methodKind === "unary") return { code: 0, message: "", response: await fn(request, { headers }) };
    if (method.methodKind === "client_streaming") {
      async function* messages() {
        yield* request as object[];
      }
      return { code: 0, message: "", response: await fn(messages(), { headers }) };
    }
    const abort = new AbortController();
    try {
      for await (const first of fn(request, { headers, signal: abort.signal }) as AsyncIterable<unknown>) {
        return { code: 0, message: "", response: first };
      }
      return { code: 0, message: "" };
    } finally {
      abort.abort();
    }
  } catch (err) {
    return fromConnect(err);
  }
}

/** The bearer header of a token. */
export function bearer(token: string): Record<string, string> {
  return { authorization: `Bearer ${token}` };
}

/** A surface with one button, enough for a confirmation to be accepted. */
export const OK_SURFACE: ComponentInit[] = [{ id: "go", kind: { case: "button", value: { label: "Go", action: "go" } } }];

/** Code names for assertion messages. */
export function codeName(code: number): string {
  return code === 0 ? "OK" : (Code[code] ?? String(code));
}

/** Polls `check` until it holds or `ms` pass. */
export async function eventually(check: () => boolean | Promise<boolean>, ms = 5000, what = "condition"): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await check())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const CODE_BY_NAME: Record<string, number> = Object.fromEntries(
  Object.entries(Code)
    .filter(([, v]) => typeof v === "number")
    .map(([k, v]) => [k.replace(/[A-Z]/g, (c, i: number) => (i ? "_" : "") + c.toLowerCase()), v as number]),
);

/** Calls an RPC on the gRPC listener with `bytes` as the serialised request, whatever they are. */
export function rawGrpc(t: TestApp, rpc: string, bytes: Uint8Array, metadata: Record<string, string> = {}): Promise<Outcome> {
  const method = KIND.get(rpc)!;
  const path = `/${TaskControlService.typeName}/${rpc}`;
  const id = (b: Buffer) => b;
  const meta = new grpc.Metadata();
  for (const [k, v] of Object.entries(metadata)) meta.set(k, v);
  const buf = Buffer.from(bytes);
  return new Promise((resolve) => {
    const done = (err: grpc.ServiceError | null) => resolve(err ? fromGrpc(err) : { code: 0, message: "" });
    if (method.methodKind === "unary") {
      t.grpc.raw.makeUnaryRequest(path, id, id, buf, meta, (err) => done(err));
    } else if (method.methodKind === "client_streaming") {
      const call = t.grpc.raw.makeClientStreamRequest(path, id, id, meta, (err) => done(err));
      call.write(buf);
      call.end();
    } else {
      const call = t.grpc.raw.makeServerStreamRequest(path, id, id, buf, meta);
      let settled = false;
      call.on("data", () => {
        if (settled) return;
        settled = true;
        resolve({ code: 0, message: "" });
        call.cancel();
      });
      call.on("error", (err: grpc.ServiceError) => {
        if (!settled) done(err);
        settled = true;
      });
      call.on("end", () => {
        if (!settled) resolve({ code: 0, message: "" });
        settled = true;
      });
    }
  });
}

/** Wraps bytes in one gRPC / Connect-streaming envelope (flags 0). */
export function envelope(bytes: Uint8Array, flags = 0): Uint8Array {
  const out = new Uint8Array(5 + bytes.byteLength);
  out[0] = flags;
  new DataView(out.buffer).setUint32(1, bytes.byteLength);
  out.set(bytes, 5);
  return out;
}

/** Request encodings of the HTTP listener a raw body can be sent as. */
export type HttpFormat = "connect-proto" | "connect-json" | "grpc-web";

/**
 * POSTs `body` as is to an RPC on the HTTP listener and reads the status the protocol
 * reports (HTTP status and JSON error for Connect unary, the end-of-stream message for
 * Connect streams, grpc-status for gRPC-Web). Streams are read to their first message only.
 */
export async function rawHttp(
  address: string,
  rpc: string,
  format: HttpFormat,
  body: Uint8Array,
  headers: Record<string, string> = {},
): Promise<Outcome> {
  const method = KIND.get(rpc)!;
  const streaming = method.methodKind !== "unary";
  const json = format === "connect-json";
  const codec = json ? "json" : "proto";
  const type = format === "grpc-web" ? "application/grpc-web+proto" : streaming ? `application/connect+${codec}` : `application/${codec}`;
  const abort = new AbortController();
  const res = await fetch(`http://${address}/${TaskControlService.typeName}/${rpc}`, {
    method: "POST",
    headers: { "content-type": type, "connect-protocol-version": "1", ...headers },
    body: new Blob([body as Uint8Array<ArrayBuffer>]),
    signal: abort.signal,
  });
  try {
    if (format !== "grpc-web" && !streaming) {
      if (res.status === 200) return { code: 0, message: "" };
      const err = (await res.json()) as { code: string; message?: string };
      return { code: CODE_BY_NAME[err.code] ?? -1, message: err.message ?? "" };
    }
    if (format === "grpc-web" && res.headers.get("grpc-status")) {
      return { code: Number(res.headers.get("grpc-status")), message: decodeURIComponent(res.headers.get("grpc-message") ?? "") };
    }
    if (res.status !== 200) return { code: -1, message: `HTTP ${res.status}` };
    const first = await firstEnvelope(res.body!);
    if (!first) return { code: -1, message: "no envelope" };
    if (format === "grpc-web") {
      if ((first.flags & 0x80) === 0) return { code: 0, message: "" };
      const text = new TextDecoder().decode(first.data);
      const status = /grpc-status:\s*(\d+)/i.exec(text);
      const msg = /grpc-message:\s*(.*)/i.exec(text);
      return { code: status ? Number(status[1]) : -1, message: decodeURIComponent(msg?.[1]?.trim() ?? "") };
    }
    if ((first.flags & 0b10) === 0) return { code: 0, message: "" };
    const end = JSON.parse(new TextDecoder().decode(first.data)) as { error?: { code: string; message?: string } };
    return end.error ? { code: CODE_BY_NAME[end.error.code] ?? -1, message: end.error.message ?? "" } : { code: 0, message: "" };
  } finally {
    abort.abort();
  }
}

async function firstEnvelope(stream: ReadableStream<Uint8Array>): Promise<{ flags: number; data: Uint8Array } | undefined> {
  const reader = stream.getReader();
  let buf = new Uint8Array(0);
  try {
    for (;;) {
      if (buf.byteLength >= 5) {
        const len = new DataView(buf.buffer, buf.byteOffset).getUint32(1);
        if (buf.byteLength >= 5 + len) return { flags: buf[0]!, data: buf.subarray(5, 5 + len) };
      }
      const { value, done } = await reader.read();
      if (done) return undefined;
      const next = new Uint8Array(buf.byteLength + value.byteLength);
      next.set(buf);
      next.set(value, buf.byteLength);
      buf = next;
    }
  } finally {
    reader.releaseLock();
  }
}

/** A test file's server with auth on (one principal per role), and what its tests call it with. */
export interface AuthSuite {
  readonly t: TestApp;
  readonly http: HttpClients;
  readonly tokens: Record<Who, string>;
  /** Held streams, cancelled before the server stops. */
  readonly held: { cancel(): void }[];
  /** Call options with `who`'s bearer token. */
  as(who: Who): Record<string, string>;
}

/** Starts the file's auth-on server before its tests and stops it (and checks for leaks) after. */
export function authSuite(dirPrefix: string): AuthSuite {
  const leaks = trackLeaks();
  let app: TestApp | undefined;
  let clients: HttpClients | undefined;
  let tokens: Record<Who, string> | undefined;
  const held: { cancel(): void }[] = [];
  before(async () => {
    const dir = mkdtempSync(join(tmpdir(), dirPrefix));
    tokens = writeAuthFile(authPath(dir));
    app = await startTestApp({ dir, args: ["--auth-file", authPath(dir)] });
    clients = httpClients(app.app.httpAddress);
  });
  after(async () => {
    for (const h of held) h.cancel();
    await app?.close();
    await leaks.check();
  });
  return {
    get t() {
      return app!;
    },
    get http() {
      return clients!;
    },
    get tokens() {
      return tokens!;
    },
    held,
    as: (who) => bearer(tokens![who]),
  };
}
