import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { describe, it } from "node:test";
import { create, type DescMessage, type MessageInitShape } from "@bufbuild/protobuf";
import { InvalidArgumentError, NotFoundError } from "../../src/domain/errors.js";
import { LIMITS } from "../../src/domain/limits.js";
import type { JsonObject } from "../../src/domain/model.js";
import { eventPageLimit, pageLimit, validate, validateKnown } from "../../src/service/validation.js";
import { type Rule, ruleNumbers, VALIDATION } from "../../src/service/validation-rules.js";
import {
  CreateTaskRequestSchema,
  EmitProgressRequestSchema,
  file_taskcontrol_v1_task_control_service,
  GetTaskRequestSchema,
  ListTaskEventsRequestSchema,
  ListTasksRequestSchema,
  RequestConfirmationRequestSchema,
  ResolveConfirmationRequestSchema,
  StreamProgressRequestSchema,
  UpdateProgressRequestSchema,
  WatchTasksRequestSchema,
} from "../../gen/taskcontrol/v1/task_control_service_pb.js";
import { file_taskcontrol_v1_task } from "../../gen/taskcontrol/v1/task_pb.js";

/**
 * The one validation table (src/service/validation.ts): one test per rule kind, every bad
 * field reported as its own violation, and the proto comments held to the table's numbers.
 */

/** The fields `validate` reports for a message built from `init`, [] when it passes. */
function fields<D extends DescMessage>(schema: D, init: MessageInitShape<D>): string[] {
  try {
    validate(schema, create(schema, init));
    return [];
  } catch (err) {
    assert.ok(err instanceof InvalidArgumentError, String(err));
    return err.violations.map((v) => v.field);
  }
}

const button = (id: string, action = "go") => ({ id, kind: { case: "button" as const, value: { label: "B", action } } });
const surface = (components: MessageInitShape<typeof RequestConfirmationRequestSchema>["components"]) => ({
  taskId: "t-1",
  title: "t",
  components,
});
/** A Struct whose leaf value sits at nesting depth `depth` (the root object is depth 1). */
const deep = (depth: number): JsonObject => {
  let v: JsonObject = { leaf: 1 };
  for (let i = 2; i < depth; i++) v = { n: v };
  return v;
};

describe("validation table: one rule kind at a time", () => {
  it("ref: an empty id is required; a malformed one is an unknown id, not a violation", () => {
    assert.deepEqual(fields(GetTaskRequestSchema, { taskId: "" }), ["task_id"]);
    for (const taskId of ["t nope!", "a/b", "x".repeat(LIMITS.idLength + 1), "a\u0000"]) {
      assert.deepEqual(validate(GetTaskRequestSchema, create(GetTaskRequestSchema, { taskId })), { unknown: { to: "task", field: "task_id" } });
      assert.throws(() => validateKnown(GetTaskRequestSchema, create(GetTaskRequestSchema, { taskId })), (e: NotFoundError) => e.reason === "TASK_NOT_FOUND");
    }
    const answer = create(ResolveConfirmationRequestSchema, { confirmationId: "c x", action: "go" });
    assert.throws(() => validateKnown(ResolveConfirmationRequestSchema, answer), (e: NotFoundError) => e.reason === "CONFIRMATION_NOT_FOUND");
    assert.deepEqual(validate(GetTaskRequestSchema, create(GetTaskRequestSchema, { taskId: "t-ok" })), {});
  });

  it("ref: other bad fields are still reported when the id is malformed", () => {
    assert.deepEqual(fields(UpdateProgressRequestSchema, { taskId: "t nope!", progress: Number.NaN }), ["progress"]);
  });

  it("key: a caller-made id must be well-formed; optional ones may be empty", () => {
    assert.deepEqual(fields(CreateTaskRequestSchema, { owner: "o", requestId: "" }), []);
    assert.deepEqual(fields(CreateTaskRequestSchema, { owner: "o", requestId: "has space" }), ["request_id"]);
    assert.deepEqual(fields(CreateTaskRequestSchema, { owner: "o", requestId: "r".repeat(LIMITS.idLength + 1) }), ["request_id"]);
  });

  it("text: at most N characters, no NUL, required when the table says so; unset optional text passes", () => {
    assert.deepEqual(fields(CreateTaskRequestSchema, { owner: "" }), ["owner"]);
    assert.deepEqual(fields(CreateTaskRequestSchema, { owner: "o", kind: "k".repeat(LIMITS.kindLength) }), []);
    assert.deepEqual(fields(CreateTaskRequestSchema, { owner: "o", kind: "k".repeat(LIMITS.kindLength + 1) }), ["kind"]);
    assert.deepEqual(fields(CreateTaskRequestSchema, { owner: "o", label: "a\u0000b" }), ["label"]);
    assert.deepEqual(fields(EmitProgressRequestSchema, { taskId: "t" }), []);
    assert.deepEqual(fields(EmitProgressRequestSchema, { taskId: "t", label: "l".repeat(LIMITS.labelLength + 1) }), ["label"]);
  });

  it("struct: bytes as JSON, nesting depth and finite numbers", () => {
    assert.deepEqual(fields(CreateTaskRequestSchema, { owner: "o", checkpoint: deep(LIMITS.structDepth) }), []);
    assert.deepEqual(fields(CreateTaskRequestSchema, { owner: "o", checkpoint: { b: "x".repeat(LIMITS.structBytes - 10) } }), []);
    assert.deepEqual(fields(CreateTaskRequestSchema, { owner: "o", checkpoint: deep(LIMITS.structDepth + 1) }), ["checkpoint"]);
    assert.deepEqual(fields(CreateTaskRequestSchema, { owner: "o", checkpoint: { b: "x".repeat(LIMITS.structBytes) } }), ["checkpoint"]);
    assert.deepEqual(fields(CreateTaskRequestSchema, { owner: "o", checkpoint: { x: Number.POSITIVE_INFINITY } }), ["checkpoint"]);
  });

  it("fraction: NaN is refused, infinities pass (they are clamped)", () => {
    assert.deepEqual(fields(UpdateProgressRequestSchema, { taskId: "t", progress: Number.NaN }), ["progress"]);
    assert.deepEqual(fields(UpdateProgressRequestSchema, { taskId: "t", progress: Number.NEGATIVE_INFINITY }), []);
    assert.deepEqual(fields(EmitProgressRequestSchema, { taskId: "t", progress: Number.NaN }), ["progress"]);
  });

  it("repeated: at most N items, each checked under its index", () => {
    const ids = Array.from({ length: LIMITS.watchTaskIds }, (_, i) => `t-${i}`);
    assert.deepEqual(fields(WatchTasksRequestSchema, { taskIds: ids }), []);
    assert.deepEqual(fields(WatchTasksRequestSchema, { taskIds: [...ids, "one-more"] }), ["task_ids"]);
    assert.deepEqual(fields(WatchTasksRequestSchema, { taskIds: ["ok", "not ok", "ok-2", "t/x"] }), ["task_ids[1]", "task_ids[3]"]);
  });

  it("duration: non-negative, nanos in range, at most 30 days", () => {
    const at = (timeout: { seconds?: bigint; nanos?: number }) => fields(RequestConfirmationRequestSchema, { ...surface([button("b")]), timeout });
    assert.deepEqual(at({ seconds: BigInt(LIMITS.maxTimeoutMs / 1000) }), []);
    assert.deepEqual(at({ seconds: BigInt(LIMITS.maxTimeoutMs / 1000), nanos: 1 }), ["timeout"]);
    assert.deepEqual(at({ seconds: -1n }), ["timeout"]);
    assert.deepEqual(at({ nanos: 1_000_000_000 }), ["timeout"]);
    assert.deepEqual(at({ seconds: 2n ** 62n }), ["timeout"]);
  });

  it("page_size: negative refused, 0 is the default, above the maximum lowered", () => {
    assert.deepEqual(fields(ListTasksRequestSchema, { pageSize: -1 }), ["page_size"]);
    assert.deepEqual(fields(ListTasksRequestSchema, { pageSize: 5000 }), []);
    assert.deepEqual([0, 7, 5000].map(pageLimit), [LIMITS.defaultPageSize, 7, LIMITS.maxPageSize]);
  });

  it("sequence: after_sequence must not be negative; unset passes", () => {
    assert.deepEqual(fields(WatchTasksRequestSchema, { afterSequence: -1n }), ["after_sequence"]);
    assert.deepEqual(fields(WatchTasksRequestSchema, { afterSequence: 0n }), []);
    assert.deepEqual(fields(WatchTasksRequestSchema, {}), []);
  });

  it("components: 1-64, ids non-empty and unique, at least one button; each component's fields by their rows", () => {
    const rc = (components: Parameters<typeof surface>[0]) => fields(RequestConfirmationRequestSchema, surface(components));
    assert.deepEqual(rc([{ id: "t", kind: { case: "text", value: { text: "Replace?" } } }, button("a"), button("b")]), []);
    assert.deepEqual(rc([]), ["components"]);
    assert.deepEqual(rc(Array.from({ length: LIMITS.components + 1 }, (_, i) => button(`b${i}`))), ["components"]);
    assert.deepEqual(rc([{ id: "t", kind: { case: "text", value: { text: "x" } } }]), ["components"]);
    assert.deepEqual(rc([button("a"), button("a")]), ["components[1].id"]);
    assert.deepEqual(rc([button(""), button("ok", "bad action")]), ["components[0].id", "components[1].button.action"]);
    assert.deepEqual(
      rc([button("b"), { id: "i", kind: { case: "textInput", value: { label: "l".repeat(513), placeholder: "p".repeat(513), defaultValue: "d".repeat(4097) } } }]),
      ["components[1].text_input.label", "components[1].text_input.placeholder", "components[1].text_input.default_value"],
    );
    assert.deepEqual(
      rc([button("b"), { id: "s", kind: { case: "select", value: { options: Array.from({ length: 101 }, (_, i) => ({ value: `v${i}` })) } } }]),
      ["components[1].select.options"],
    );
  });

  it("oneof: a component and a StreamProgress message must say what they are", () => {
    assert.deepEqual(fields(RequestConfirmationRequestSchema, surface([button("b"), { id: "x" }])), ["components[1].kind"]);
    assert.deepEqual(fields(StreamProgressRequestSchema, {}), ["message"]);
    // StreamProgress's update/emit fields are named without the case (the stream adds messages[i].).
    assert.deepEqual(fields(StreamProgressRequestSchema, { message: { case: "update", value: { taskId: "t", progress: Number.NaN } } }), ["progress"]);
  });

  it("choice: a select's default is empty or one of its options", () => {
    const select = (defaultValue: string) => ({ id: "s", kind: { case: "select" as const, value: { options: [{ value: "a" }, { value: "b" }], defaultValue } } });
    assert.deepEqual(fields(RequestConfirmationRequestSchema, surface([button("b"), select("")])), []);
    assert.deepEqual(fields(RequestConfirmationRequestSchema, surface([button("b"), select("b")])), []);
    assert.deepEqual(fields(RequestConfirmationRequestSchema, surface([button("b"), select("c")])), ["components[1].select.default_value"]);
    assert.deepEqual(fields(RequestConfirmationRequestSchema, surface([button("b"), { id: "s", kind: { case: "select", value: {} } }])), [
      "components[1].select.options",
    ]);
  });

  it("answerer: 1-128 characters each, role:<role> of a known role, at most 64 entries", () => {
    const at = (answerers: string[]) => fields(RequestConfirmationRequestSchema, { ...surface([button("b")]), answerers });
    assert.deepEqual(at(["alice-ui", "role:user", "role:gateway", "ops team"]), []);
    assert.deepEqual(at(["", "role:boss", "a".repeat(LIMITS.answererLength + 1), "a".repeat(LIMITS.answererLength)]), [
      "answerers[0]",
      "answerers[1]",
      "answerers[2]",
    ]);
    assert.deepEqual(at(Array.from({ length: LIMITS.answerers + 1 }, (_, i) => `p${i}`)), ["answerers"]);
  });

  it("timeout_action: empty, or one of the buttons' actions, and only with a timeout", () => {
    const at = (timeoutAction: string, seconds?: bigint) =>
      fields(RequestConfirmationRequestSchema, {
        ...surface([button("a", "keep"), button("b", "replace")]),
        timeoutAction,
        ...(seconds !== undefined ? { timeout: { seconds } } : {}),
      });
    assert.deepEqual(at("", 60n), []);
    assert.deepEqual(at("keep", 60n), []);
    assert.deepEqual(at("explode", 60n), ["timeout_action"]);
    assert.deepEqual(at("keep"), ["timeout_action"]);
    assert.deepEqual(at("keep", 0n), ["timeout_action"]);
  });

  it("button value: at most 64 KiB, no key equal to an input id, one value per action", () => {
    const valued = (id: string, action: string, value: JsonObject) => ({ id, kind: { case: "button" as const, value: { label: "B", action, value } } });
    const input = { id: "name", kind: { case: "textInput" as const, value: {} } };
    const rc = (components: Parameters<typeof surface>[0]) => fields(RequestConfirmationRequestSchema, surface(components));
    assert.deepEqual(rc([valued("r", "replace", { replace_existing: true }), valued("r2", "replace", { replace_existing: true }), input]), []);
    assert.deepEqual(rc([valued("r", "replace", { name: "x", other: 1 }), input]), ["components[0].button.value"]);
    assert.deepEqual(rc([valued("r", "replace", { a: 1 }), valued("r2", "replace", { a: 2 })]), ["components[1].button.value"]);
    assert.deepEqual(rc([valued("r", "replace", { b: "x".repeat(LIMITS.structBytes) })]), ["components[0].button.value"]);
  });

  it("text_input: max_length 0-4,096; pattern RE2 of at most 512 characters; its description at most 512", () => {
    const ti = (value: object) => fields(RequestConfirmationRequestSchema, surface([button("b"), { id: "t", kind: { case: "textInput", value } }]));
    assert.deepEqual(ti({ maxLength: 4096, pattern: "[a-z]+", patternDescription: "lower case letters" }), []);
    assert.deepEqual(ti({ maxLength: -1 }), ["components[1].text_input.max_length"]);
    assert.deepEqual(ti({ maxLength: 4097 }), ["components[1].text_input.max_length"]);
    assert.deepEqual(ti({ pattern: "(?<=a)b" }), ["components[1].text_input.pattern"]);
    assert.deepEqual(ti({ pattern: "a".repeat(LIMITS.patternLength + 1) }), ["components[1].text_input.pattern"]);
    assert.deepEqual(ti({ patternDescription: "d".repeat(LIMITS.patternLength + 1) }), ["components[1].text_input.pattern_description"]);
  });

  it("number_input: finite bounds, max not below min, step above 0, default within the bounds", () => {
    const ni = (value: object) => fields(RequestConfirmationRequestSchema, surface([button("b"), { id: "n", kind: { case: "numberInput", value } }]));
    assert.deepEqual(ni({ min: 1, max: 8, step: 1, defaultValue: 4 }), []);
    assert.deepEqual(ni({}), []);
    assert.deepEqual(ni({ min: Number.NaN, max: Infinity }), ["components[1].number_input.min", "components[1].number_input.max"]);
    assert.deepEqual(ni({ min: 5, max: 4 }), ["components[1].number_input.max"]);
    assert.deepEqual(ni({ step: 0 }), ["components[1].number_input.step"]);
    assert.deepEqual(ni({ min: 1, max: 8, defaultValue: 9 }), ["components[1].number_input.default_value"]);
  });

  it("ListTaskEvents page_size: 0 means 100, larger than 1,000 lowered", () => {
    assert.deepEqual(fields(ListTaskEventsRequestSchema, { taskId: "t", pageSize: -1 }), ["page_size"]);
    assert.deepEqual([0, 7, 5000].map(eventPageLimit), [100, 7, LIMITS.maxPageSize]);
  });

  it("reports every bad field, each as its own violation, in field order", () => {
    assert.deepEqual(fields(CreateTaskRequestSchema, { owner: "", kind: "k".repeat(129), label: "l".repeat(513), checkpoint: deep(40), requestId: "r r" }), [
      "owner",
      "kind",
      "label",
      "checkpoint",
      "request_id",
    ]);
  });
});

// ---- the table against the schema and the proto comments ------------------------------------

const FILES = [file_taskcontrol_v1_task, file_taskcontrol_v1_task_control_service];
const PACKAGE = "taskcontrol.v1.";

function messageByName(name: string): DescMessage | undefined {
  const all: DescMessage[] = [];
  const walk = (m: DescMessage) => {
    all.push(m);
    m.nestedMessages.forEach(walk);
  };
  for (const f of FILES) f.messages.forEach(walk);
  return all.find((m) => m.typeName === PACKAGE + name);
}

describe("the validation table and the contract", () => {
  it("names only messages and fields (or oneofs) the schema has", () => {
    for (const [message, rules] of Object.entries(VALIDATION)) {
      const desc = messageByName(message);
      assert.ok(desc, `no message ${message}`);
      for (const field of Object.keys(rules)) {
        assert.ok(desc.members.some((m) => m.name === field), `${message} has no field ${field}`);
      }
    }
  });

  it("every request message of the service has a row set", () => {
    const requests = file_taskcontrol_v1_task_control_service.services[0]!.methods.map((m) => m.input.typeName.slice(PACKAGE.length));
    assert.deepEqual(requests.filter((r) => !VALIDATION[r]), []);
  });

  /**
   * Parses the proto comments (the comment block right above a field, or above nothing) and
   * holds every limit they state to the table's rule for that field: "at most N characters",
   * "at most N KiB as JSON", "1-N", "(N-M)", "0 means N", "At most N days". A number in a
   * comment that is not about a field with a rule (the file headers) fails: those point to the
   * README's generated limits table instead.
   */
  it("the limits the proto comments state are the table's", () => {
    /** Fields of response messages that echo a request field's limit. */
    const ECHO: Record<string, string> = {
      "Task.id": "GetTaskRequest.task_id",
      "Task.kind": "CreateTaskRequest.kind",
      "Task.label": "CreateTaskRequest.label",
      "Task.checkpoint": "CreateTaskRequest.checkpoint",
      "Confirmation.title": "RequestConfirmationRequest.title",
      "Confirmation.components": "RequestConfirmationRequest.components",
    };
    /** Stated limits that are not about a request field, with the code that holds them. */
    const ELSEWHERE: Record<string, number[]> = {
      // The snapshot is capped by events/watch.ts's snapshotLimit (default 10,000), not by validation.
      "WatchTasksRequest.include_snapshot": [10_000],
    };
    const problems: string[] = [];
    let checked = 0;
    for (const file of ["proto/taskcontrol/v1/task.proto", "proto/taskcontrol/v1/task_control_service.proto"]) {
      for (const { at, comment } of commentedFields(readFileSync(file, "utf8"))) {
        const claims = statedLimits(comment);
        if (claims.length === 0) continue;
        const [message, field] = splitAt(ECHO[at] ?? at);
        const rule: Rule | undefined = message ? VALIDATION[message]?.[field] : undefined;
        const allowed = rule ? ruleNumbers(rule) : (ELSEWHERE[at] ?? []);
        for (const claim of claims) {
          checked++;
          if (!allowed.includes(claim)) problems.push(`${file}: ${at || "(no field)"} states ${claim}; the table says ${allowed.join(", ") || "nothing"}: ${comment.slice(0, 80)}`);
        }
      }
    }
    assert.deepEqual(problems, []);
    assert.ok(checked > 25, `only ${checked} stated limits found: the parser lost the comments`);
  });

  it("the comment parser finds the limits it is meant to", () => {
    assert.deepEqual(statedLimits("Heading (at most 4,096 characters)."), [4096]);
    assert.deepEqual(statedLimits("Payload (at most 64 KiB as JSON)."), [64 * 1024]);
    assert.deepEqual(statedLimits("The surface (1-64 components)"), [1, 64]);
    assert.deepEqual(statedLimits("Page size; 0 means 50; at most 1,000."), [50, 1000]);
    assert.deepEqual(statedLimits("waits forever. At most 30 days."), [30 * 24 * 3600 * 1000]);
    assert.deepEqual(statedLimits("Fraction done, always within [0, 1]."), []);
  });
});

function splitAt(path: string): [string, string] {
  const i = path.lastIndexOf(".");
  return [path.slice(0, i), path.slice(i + 1)];
}

/** The numbers a comment states as limits, in the units the table uses (characters, bytes, ms). */
function statedLimits(comment: string): number[] {
  const num = (s: string) => Number(s.replace(/,/g, ""));
  const out: number[] = [];
  for (const m of comment.matchAll(/(\d[\d,]*)-(\d[\d,]*)/g)) out.push(num(m[1]!), num(m[2]!));
  for (const m of comment.matchAll(/\d+ means (\d[\d,]*)/g)) out.push(num(m[1]!));
  for (const m of comment.matchAll(/at most (\d[\d,]*)( KiB| MiB| days)?/gi)) {
    const scale = { " KiB": 1024, " MiB": 1024 * 1024, " days": 24 * 3600 * 1000 }[m[2] ?? ""] ?? 1;
    out.push(num(m[1]!) * scale);
  }
  return out;
}

/**
 * Each comment block of a proto file with the field it documents, as `Message.Nested.field`
 * ("" for a comment above a message, enum or the file).
 */
function commentedFields(source: string): { at: string; comment: string }[] {
  const out: { at: string; comment: string }[] = [];
  const scope: string[] = [];
  let comment: string[] = [];
  for (const raw of source.split("\n")) {
    const line = raw.trim();
    if (line.startsWith("//")) {
      comment.push(line.slice(2).trim());
      continue;
    }
    const open = /^(message|enum|oneof|service)\s+(\w+)\s*\{/.exec(line);
    const field = /^(?:optional\s+|repeated\s+)?[\w.]+\s+(\w+)\s*=\s*\d+/.exec(line);
    const text = comment.join(" ");
    if (open) {
      if (text) out.push({ at: "", comment: text });
      // A block closed on its own line (`message Bookmark {}`) opens no scope.
      if (!line.endsWith("}")) scope.push(open[1] === "message" ? open[2]! : "");
    } else if (field && !line.startsWith("rpc")) {
      const message = scope.filter(Boolean).join(".");
      if (text) out.push({ at: `${message}.${field[1]}`, comment: text });
    } else if (line.startsWith("}")) {
      scope.pop();
      if (text) out.push({ at: "", comment: text });
    } else if (text) {
      out.push({ at: "", comment: text });
    }
    comment = [];
  }
  return out;
}
