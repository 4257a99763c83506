// Reading the google.rpc details of a failed call, shared by taskctl and the web monitor (no
// Node or DOM APIs): programs branch on these, never on the message text.
import type { ConnectError } from "@connectrpc/connect";
import { BadRequestSchema, ErrorInfoSchema, RetryInfoSchema, type ErrorInfo } from "../../gen/google/rpc/error_details_pb.js";
import { durationMs } from "@bufbuild/protobuf/wkt";

/** The taskcontrol ErrorInfo of a failed call (reason and metadata), if it has one. */
export function errorInfo(err: ConnectError): ErrorInfo | undefined {
  return err.findDetails(ErrorInfoSchema).find((i) => i.domain === "taskcontrol");
}

/** The taskcontrol ErrorInfo reason of a failed call (e.g. ALREADY_RESOLVED), if it has one. */
export function errorReason(err: ConnectError): string | undefined {
  return errorInfo(err)?.reason;
}

/** How long the server asks the caller to wait before retrying (google.rpc.RetryInfo), in ms. */
export function retryDelayMs(err: ConnectError): number | undefined {
  const delay = err.findDetails(RetryInfoSchema)[0]?.retryDelay;
  return delay === undefined ? undefined : durationMs(delay);
}

/** The bad fields a failed call names (google.rpc.BadRequest), by request path. */
export function fieldViolations(err: ConnectError): { field: string; description: string }[] {
  return err.findDetails(BadRequestSchema).flatMap((b) => b.fieldViolations.map((v) => ({ field: v.field, description: v.description })));
}
