import { create } from "@bufbuild/protobuf";
import type { ProgressOutcome } from "../domain/task-manager.js";
import {
  type EmitProgressResponse,
  EmitProgressResponseSchema,
  type UpdateProgressResponse,
  UpdateProgressResponseSchema,
} from "../../gen/taskcontrol/v1/task_control_service_pb.js";
import { statusToProto } from "./convert.js";

/**
 * The answers of UpdateProgress and EmitProgress. They hold only a few booleans and a status,
 * so each distinct answer is one frozen message made once: the hot path neither builds a
 * message per call nor (the grpc serializer caches bytes per message object) encodes one.
 */
const updates: UpdateProgressResponse[] = [];
const emits: EmitProgressResponse[] = [];

function keyOf(o: ProgressOutcome, applied: boolean): number {
  return (statusToProto(o.status) << 3) | (o.found ? 4 : 0) | (applied ? 2 : 0) | (o.cancelRequested ? 1 : 0);
}

/** The UpdateProgressResponse of `o` (`applied` as the manager said). */
export function updateAnswer(o: ProgressOutcome): UpdateProgressResponse {
  const key = keyOf(o, o.applied);
  return (updates[key] ??= Object.freeze(
    create(UpdateProgressResponseSchema, { found: o.found, applied: o.applied, status: statusToProto(o.status), cancelRequested: o.cancelRequested }),
  ));
}

/** The EmitProgressResponse of `o`. */
export function emitAnswer(o: ProgressOutcome): EmitProgressResponse {
  const key = keyOf(o, false);
  return (emits[key] ??= Object.freeze(
    create(EmitProgressResponseSchema, { found: o.found, status: statusToProto(o.status), cancelRequested: o.cancelRequested }),
  ));
}
