import assert from "node:assert/strict";
import { describe, it } from "node:test";
import { Code, ConnectError } from "@connectrpc/connect";
import { AuthFileError, parseAuthFile } from "../../src/security/auth-file.js";
import { createAuthenticator } from "../../src/security/authenticator.js";
import { ALLOWED_RPCS, authorize } from "../../src/security/authorization.js";
import { createCallGuard } from "../../src/security/call-guard.js";
import { ANONYMOUS } from "../../src/service/principal.js";
import { TaskControlService } from "../../gen/taskcontrol/v1/task_control_service_pb.js";
import { sha256 } from "./helpers.js";

const file = (principals: unknown[]) => JSON.stringify({ principals });
const H = (token: string) => `${sha256(token)}`;
const method = (name: string) => TaskControlService.methods.find((m) => m.name === name)!;
const codeOf = (fn: () => unknown) => {
  try {
    fn();
    return 0;
  } catch (err) {
    return ConnectError.from(err).code;
  }
};

describe("auth file", () => {
  it("parses principals and keeps only the token hash", () => {
    const entries = parseAuthFile(
      file([
        { name: "w", role: "worker", token_sha256: H("a") },
        { name: "u", role: "user", owner: "alice", token_sha256: H("b").toUpperCase() },
      ]),
    );
    assert.equal(entries.length, 2);
    assert.deepEqual(entries[1]!.tokenSha256, Buffer.from(sha256("b"), "hex"));
    assert.equal(entries[1]!.owner, "alice");
  });
  const bad: Record<string, string> = {
    "not JSON": "{",
    "no principals": "{}",
    "principals not a list": '{"principals": {}}',
    "unknown role": file([{ name: "x", role: "root", token_sha256: H("a") }]),
    "user without owner": file([{ name: "x", role: "user", token_sha256: H("a") }]),
    "owner on a gateway": file([{ name: "x", role: "gateway", owner: "o", token_sha256: H("a") }]),
    "short hash": file([{ name: "x", role: "admin", token_sha256: "abc" }]),
    "a token instead of a hash": file([{ name: "x", role: "admin", token_sha256: "s3cret-token" }]),
    "unknown field": file([{ name: "x", role: "admin", token: "s3cret", token_sha256: H("a") }]),
    "duplicate name": file([
      { name: "x", role: "admin", token_sha256: H("a") },
      { name: "x", role: "worker", token_sha256: H("b") },
    ]),
    "duplicate hash": file([
      { name: "x", role: "admin", token_sha256: H("a") },
      { name: "y", role: "worker", token_sha256: H("a") },
    ]),
  };
  for (const [label, text] of Object.entries(bad)) {
    it(`refuses ${label}`, () => assert.throws(() => parseAuthFile(text), AuthFileError));
  }
  it("does not echo a secret-looking value in its message", () => {
    assert.throws(
      () => parseAuthFile(file([{ name: "x", role: "admin", token_sha256: "s3cret-token" }])),
      (err: Error) => !err.message.includes("s3cret"),
    );
  });
});

describe("authenticator", () => {
  const auth = createAuthenticator(parseAuthFile(file([{ name: "gw", role: "gateway", token_sha256: H("tok-1") }])));
  const headers = (v?: string) => new Headers(v === undefined ? {} : { authorization: v });
  it("maps a bearer token to its principal", () => {
    assert.deepEqual(auth.authenticate(headers("Bearer tok-1")), { name: "gw", role: "gateway", owner: undefined });
  });
  it("refuses missing, malformed and unknown tokens with UNAUTHENTICATED", () => {
    for (const v of [undefined, "", "Bearer", "Bearer ", "Basic tok-1", "tok-1", "Bearer tok 1", "Bearer tok-2", `Bearer ${"x".repeat(5000)}`]) {
      assert.equal(codeOf(() => auth.authenticate(headers(v))), Code.Unauthenticated, String(v));
    }
  });
  it("with auth off, everyone is the anonymous admin", () => {
    assert.equal(createAuthenticator(undefined).authenticate(headers()), ANONYMOUS);
  });
  it("replace swaps the principal set", () => {
    const a = createAuthenticator([]);
    assert.equal(codeOf(() => a.authenticate(headers("Bearer tok-1"))), Code.Unauthenticated);
    a.replace(parseAuthFile(file([{ name: "w", role: "worker", token_sha256: H("tok-1") }])));
    assert.equal(a.authenticate(headers("Bearer tok-1")).name, "w");
  });
});

describe("authorization table", () => {
  it("names only real RPCs", () => {
    const names = new Set(TaskControlService.methods.map((m) => m.name));
    for (const set of Object.values(ALLOWED_RPCS)) if (set !== "all") for (const rpc of set) assert.ok(names.has(rpc), rpc);
  });
  it("refuses a role without the RPC with PERMISSION_DENIED", () => {
    assert.equal(codeOf(() => authorize({ name: "u", role: "user", owner: "a" }, "CreateTask")), Code.PermissionDenied);
    assert.equal(codeOf(() => authorize({ name: "w", role: "worker" }, "ResolveConfirmation")), Code.PermissionDenied);
    assert.equal(codeOf(() => authorize({ name: "a", role: "admin" }, "AnythingAtAll")), 0);
  });
});

describe("per-principal stream cap", () => {
  it("admits up to the cap per principal, then RESOURCE_EXHAUSTED until one ends; unary calls are not counted", () => {
    const auth = createAuthenticator(
      parseAuthFile(
        file([
          { name: "a", role: "admin", token_sha256: H("a") },
          { name: "b", role: "admin", token_sha256: H("b") },
        ]),
      ),
    );
    const guard = createCallGuard({ authenticator: auth, maxStreamsPerPrincipal: 2 });
    const a = new Headers({ authorization: "Bearer a" });
    const watch = method("WatchTasks");
    const first = guard.admit(a, watch);
    guard.admit(a, method("StreamProgress"));
    assert.equal(codeOf(() => guard.admit(a, watch)), Code.ResourceExhausted);
    assert.equal(codeOf(() => guard.admit(a, method("GetTask"))), 0);
    assert.equal(codeOf(() => guard.admit(new Headers({ authorization: "Bearer b" }), watch)), 0, "another principal");
    first.release();
    first.release();
    assert.equal(guard.openStreams("a"), 1, "a second release is a no-op");
    assert.equal(codeOf(() => guard.admit(a, watch)), 0);
  });
});
