import assert from "node:assert/strict";
import { fromBinary } from "@bufbuild/protobuf";
import { anyUnpack } from "@bufbuild/protobuf/wkt";
import type { Code } from "@connectrpc/connect";
import type * as grpc from "@grpc/grpc-js";
import type { ReadableError } from "./in-process.js";
import { BadRequestSchema, ErrorInfoSchema, RetryInfoSchema } from "../../gen/google/rpc/error_details_pb.js";
import { StatusSchema } from "../../gen/google/rpc/status_pb.js";

/** The grpc-js reading of a failed call: decode google.rpc.Status from the trailer and unpack its Anys. */
export function readGrpcError(err: grpc.ServiceError): ReadableError {
  const raw = err.metadata.get("grpc-status-details-bin")[0];
  assert.ok(raw instanceof Buffer, "grpc-status-details-bin is present");
  const status = fromBinary(StatusSchema, raw);
  assert.equal(status.code, err.code, "Status.code matches the call's status");
  const seen: ReadableError = { code: err.code as number as Code, reason: "", domain: "", metadata: {}, fields: [], retry: false };
  for (const any of status.details) {
    const info = anyUnpack(any, ErrorInfoSchema);
    if (info) Object.assign(seen, { reason: info.reason, domain: info.domain, metadata: { ...info.metadata } });
    const bad = anyUnpack(any, BadRequestSchema);
    if (bad) seen.fields.push(...bad.fieldViolations.map((v) => v.field));
    if (anyUnpack(any, RetryInfoSchema)) seen.retry = true;
  }
  return seen;
}
