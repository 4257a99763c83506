import { Code, ConnectError } from "@connectrpc/connect";
import type { Principal, Role } from "../service/principal.js";

/** RPC names of TaskControlService (the contract's fixed names). */
type Rpc =
  | "CreateTask"
  | "GetTask"
  | "ListTasks"
  | "UpdateProgress"
  | "EmitProgress"
  | "StreamProgress"
  | "RequestConfirmation"
  | "ResolveConfirmation"
  | "CompleteTask"
  | "FailTask"
  | "CancelTask"
  | "WatchTasks"
  | "Heartbeat"
  | "ClaimTask"
  | "ListTaskEvents";

const USER_RPCS: readonly Rpc[] = ["WatchTasks", "GetTask", "ListTasks", "ResolveConfirmation", "CancelTask", "ListTaskEvents"];

/**
 * The one table of who may call what, on both listeners. Owner scoping (a user sees only
 * its owner's tasks) is applied by the service on top of it; a gateway has the user set for
 * any owner; "all" admits every method, including ones added later.
 */
export const ALLOWED_RPCS: Readonly<Record<Role, ReadonlySet<string> | "all">> = Object.freeze({
  worker: new Set<Rpc>([
    "CreateTask",
    "GetTask",
    "UpdateProgress",
    "EmitProgress",
    "StreamProgress",
    "RequestConfirmation",
    "CompleteTask",
    "FailTask",
    "Heartbeat",
    "ClaimTask",
    // Only with task_ids (the service refuses an owner-wide watch of a worker).
    "WatchTasks",
    // A task's history is as visible as the task (GetTask).
    "ListTaskEvents",
  ]),
  user: new Set<Rpc>(USER_RPCS),
  gateway: new Set<Rpc>(USER_RPCS),
  admin: "all",
});

/** Throws PERMISSION_DENIED unless the principal's role may call `rpc`. */
export function authorize(principal: Principal, rpc: string): void {
  const allowed = ALLOWED_RPCS[principal.role];
  if (allowed === "all" || allowed.has(rpc)) return;
  throw new ConnectError(`role ${principal.role} may not call ${rpc}`, Code.PermissionDenied);
}
