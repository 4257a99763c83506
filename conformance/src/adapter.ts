/**
 * Client mode: the scenarios of conformance/client/ drive an SDK through this interface, so
 * the Node and the Python SDK run the very same steps and must give the same answers.
 * Operations take and return plain JSON; SDK errors are reduced to a WireError (code,
 * ErrorInfo reason and metadata), the same shape the wire steps check.
 *
 * The operations (args → result):
 *   create              {owner, label?, kind?, requestId?, lease? (s)}   → {taskId}
 *   updateProgress      {taskId, progress, label?, checkpoint?}          → {}
 *   emitProgress        {taskId, progress?, label?, checkpoint?}         → {}
 *   requestConfirmation {taskId, title?, components, timeoutMs?, timeoutAction?, answerers?,
 *                        requestId?, abortAfterMs?}                      → {ok, action, values,
 *                                                                           outcome, answeredBy, defaulted}
 *   complete            {taskId, result?}                                → {status}
 *   fail                {taskId, message, details?}                      → {status}
 *   view                {taskId}                                         → {progress, label, status, checkpoint}
 *   claim               {taskId, lease? (s)}                             → {attempt}; later calls on the
 *                       task carry the new attempt (the SDK's fencing)
 *   runBackground       {owner, label?, kind?, lease?, job, result?, message?} → {taskId}
 *                       job: "return" (returns result), "throw" (throws message), "wait"
 *                       (runs until its cancellation arrives)
 *   jobOutcome          {taskId}                                         → {cancelled, returned?, raised?}
 *   resolveConfirmation {confirmationId, action, values?}                → {state, action}
 *   cancel              {taskId, reason?}                                → {status}
 *
 * components: [{text: {id, text}} | {button: {id, label, action, value?}} | {textInput: {id,
 * label?, required?}} | {checkbox: {id, label?}} | {numberInput: {id, label?, min?, max?}}].
 * status is lower case ("running"); outcome is "answered", "expired" or "cancelled".
 */
import type { JsonValue } from "@bufbuild/protobuf";
import type { WireError } from "./wire.js";

export interface SdkAdapter {
  /** "node" or "python". */
  readonly name: string;
  call(op: string, args: JsonValue): Promise<JsonValue>;
  /** The code, reason and metadata of an error `call` rejected with. */
  errorOf(err: unknown): WireError;
  /** Ends whatever the last case left running (held calls, background jobs). */
  reset(): Promise<void>;
  close(): Promise<void>;
}

/** An error an adapter reports in the shared shape. */
export class AdapterError extends Error {
  constructor(readonly wire: WireError) {
    super(`${wire.code} ${wire.reason ?? ""}: ${wire.message}`);
  }
}

/** errorOf for adapters that reject with AdapterError (anything else is a broken adapter). */
export function adapterErrorOf(err: unknown): WireError {
  if (err instanceof AdapterError) return err.wire;
  return { code: "adapter_failure", message: err instanceof Error ? err.message : String(err), metadata: {}, violations: [] };
}
