import { createContextKey } from "@connectrpc/connect";
import { NotFoundError, PermissionDeniedError } from "../domain/errors.js";

/** The roles of the security model. */
export type Role = "worker" | "user" | "gateway" | "admin";

/** Who is calling: set by the transports' authentication, read by the service. */
export interface Principal {
  readonly name: string;
  readonly role: Role;
  /** For role user: the only owner whose tasks it may see. */
  readonly owner?: string | undefined;
}

/** With auth off (loopback only) every caller acts as this admin. */
export const ANONYMOUS: Principal = Object.freeze({ name: "anonymous", role: "admin" });

/** The context value the transports set for each call. */
export const principalKey = createContextKey<Principal>(ANONYMOUS, { description: "taskcontrol principal" });

/**
 * The owner filter a watch or list runs with: a user is bound to its owner (empty means
 * its own; another owner is PERMISSION_DENIED); the other roles may name any owner, and
 * empty means every owner.
 */
export function ownerScope(p: Principal, requested: string): string | undefined {
  if (p.role === "user") {
    if (requested !== "" && requested !== p.owner) {
      throw new PermissionDeniedError(`principal ${p.name} may only see owner ${p.owner}`);
    }
    return p.owner ?? "";
  }
  return requested === "" ? undefined : requested;
}

/** Throws NOT_FOUND for a task of another owner, so that its existence does not leak. */
export function assertOwnerVisible(
  p: Principal,
  owner: string,
  what: string,
  reason: "TASK_NOT_FOUND" | "CONFIRMATION_NOT_FOUND" = "TASK_NOT_FOUND",
): void {
  if (p.role === "user" && owner !== p.owner) throw new NotFoundError(`${what} not found`, reason);
}
