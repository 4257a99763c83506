import type { DescMethod } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import { errorInfo } from "../service/errors.js";
import type { Principal } from "../service/principal.js";
import type { Authenticator } from "./authenticator.js";
import { authorize } from "./authorization.js";

/** A call let in: who makes it, and what to give back when it ends. */
export interface Admission {
  readonly principal: Principal;
  /** Frees the call's stream slot; safe to call more than once. */
  release(): void;
}

/** Options of createCallGuard. */
export interface CallGuardOptions {
  authenticator: Authenticator;
  /** Open streams one principal may hold at once; past it RESOURCE_EXHAUSTED. */
  maxStreamsPerPrincipal: number;
}

/** Admits or refuses each call the same way on both listeners. */
export interface CallGuard {
  /**
   * Authenticates (UNAUTHENTICATED), authorizes (PERMISSION_DENIED) and, for a stream,
   * takes one of the principal's stream slots (RESOURCE_EXHAUSTED), in that order.
   */
  admit(headers: Pick<Headers, "get">, method: DescMethod): Admission;
  /** Streams a principal holds now (for tests and metrics). */
  openStreams(principalName: string): number;
}

/**
 * A stream's admission, which holds one of its principal's slots until released: a class,
 * so that a held stream keeps one small object, not a closure and its context as well.
 */
class StreamSlot implements Admission {
  private released = false;

  constructor(
    readonly principal: Principal,
    private readonly open: Map<string, number>,
  ) {}

  release(): void {
    if (this.released) return;
    this.released = true;
    const n = (this.open.get(this.principal.name) ?? 1) - 1;
    if (n <= 0) this.open.delete(this.principal.name);
    else this.open.set(this.principal.name, n);
  }
}

/**
 * Builds the guard. Stream slots are counted per principal name, so a replaced token of
 * the same principal shares its slots, and a flood from one client cannot starve others.
 */
export function createCallGuard(options: CallGuardOptions): CallGuard {
  const open = new Map<string, number>();
  const noop = () => {};
  // A unary call holds no slot: one Admission per principal serves all its unary calls.
  const unary = new WeakMap<Principal, Admission>();
  return {
    admit(headers, method) {
      const principal = options.authenticator.authenticate(headers);
      authorize(principal, method.name);
      if (method.methodKind === "unary") {
        let admission = unary.get(principal);
        if (!admission) unary.set(principal, (admission = Object.freeze({ principal, release: noop })));
        return admission;
      }
      const held = open.get(principal.name) ?? 0;
      if (held >= options.maxStreamsPerPrincipal) {
        throw new ConnectError(
          `principal ${principal.name} already holds ${held} open streams (limit ${options.maxStreamsPerPrincipal})`,
          Code.ResourceExhausted,
          undefined,
          [errorInfo("STREAM_LIMIT", { limit: String(options.maxStreamsPerPrincipal) })],
        );
      }
      open.set(principal.name, held + 1);
      return new StreamSlot(principal, open);
    },
    openStreams: (name) => open.get(name) ?? 0,
  };
}
