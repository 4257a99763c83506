import { create } from "@bufbuild/protobuf";
import type { HeartbeatOutcome, ProgressOutcome } from "../domain/task-manager.js";
import {
  type EmitProgressResponse,
  EmitProgressResponseSchema,
  type HeartbeatResponse,
  HeartbeatResponseSchema,
  type UpdateProgressResponse,
  UpdateProgressResponseSchema,
} from "../../gen/taskcontrol/v1/task_control_service_pb.js";
import { statusToProto, timestampToProto } from "./convert.js";

/**
 * The answers of UpdateProgress, EmitProgress and Heartbeat. They hold only a few booleans,
 * a status (and a heartbeat its lease expiry), so each distinct answer is one frozen message:
 * the hot path neither builds a message per call nor (the grpc serializer keeps the bytes of
 * frozen messages) encodes one.
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

/**
 * The last HeartbeatResponse made for each (found, status, cancelRequested), with the lease
 * expiry it carries. A renewed lease expires at "now + duration", in milliseconds, so the
 * heartbeats served within one millisecond for tasks of one lease duration (a burst of calls
 * read in one tick) share one frozen answer, encoded once; any other expiry makes a new one.
 */
const heartbeats: { expiry: number | null; answer: HeartbeatResponse }[] = [];

/** The HeartbeatResponse of `o`. */
export function heartbeatAnswer(o: HeartbeatOutcome): HeartbeatResponse {
  const key = (statusToProto(o.status) << 2) | (o.found ? 2 : 0) | (o.cancelRequested ? 1 : 0);
  const last = heartbeats[key];
  if (last && last.expiry === o.leaseExpireTime) return last.answer;
  const leaseExpireTime = timestampToProto(o.leaseExpireTime);
  if (leaseExpireTime) Object.freeze(leaseExpireTime);
  const answer = Object.freeze(
    create(HeartbeatResponseSchema, { found: o.found, status: statusToProto(o.status), cancelRequested: o.cancelRequested, leaseExpireTime }),
  );
  heartbeats[key] = { expiry: o.leaseExpireTime, answer };
  return answer;
}
