import { createHash, timingSafeEqual } from "node:crypto";
import { Code, ConnectError } from "@connectrpc/connect";
import { ANONYMOUS, type Principal } from "../service/principal.js";
import type { AuthEntry } from "./auth-file.js";

/** Longest bearer token accepted; anything longer is malformed, not hashed. */
const MAX_TOKEN_LENGTH = 4096;
/** Most accepted authorization values remembered (per token, so about one per principal). */
const MAX_ACCEPTED = 4096;
/** RFC 6750 b64token characters, plus the rest of visible ASCII that generators emit. */
const TOKEN = /^[\x21-\x7e]+$/;

/** "Bearer", then spaces or tabs (RFC 6750 wants one or more SP; tabs are harmless). */
const SCHEME = /^bearer[ \t]+(.*)$/i;
/**
 * HTTP/2 (RFC 9113 §8.2.1) forbids whitespace at either end of a field value, and Node's
 * HTTP/2 layer drops such a field before any handler sees it: a token sent with a trailing
 * space arrives as no header at all. The message says so, since it cannot be told apart.
 */
const MISSING =
  "missing bearer token (authorization: Bearer <token>); over HTTP/2 and gRPC an authorization " +
  "value with leading or trailing whitespace is dropped before it reaches the server";

/** Turns a call's headers into its principal; the one authentication both listeners use. */
export interface Authenticator {
  /** False when no auth file was given: every caller is ANONYMOUS (admin), loopback only. */
  readonly enabled: boolean;
  /** The principal of `authorization: Bearer <token>`; throws UNAUTHENTICATED otherwise. */
  authenticate(headers: Pick<Headers, "get">): Principal;
  /** Swaps the principal set (SIGHUP); calls already admitted keep their principal. */
  replace(entries: readonly AuthEntry[]): void;
  /** Principals currently known (for logs on reload). */
  readonly size: number;
}

/** Builds the authenticator; `entries` undefined means auth is off. */
export function createAuthenticator(entries: readonly AuthEntry[] | undefined): Authenticator {
  let table: { principal: Principal; hash: Buffer }[] = [];
  // The principal of each authorization value already accepted, so that a worker's every call
  // does not hash its token and compare it with every principal again. Only accepted values
  // are kept (a flood of bad tokens cannot fill it), at most MAX_ACCEPTED, and a reload
  // empties it (a revoked token is checked against the new table).
  let accepted = new Map<string, Principal>();
  const set = (list: readonly AuthEntry[]) => {
    table = list.map((e) => ({
      principal: Object.freeze({ name: e.name, role: e.role, owner: e.owner }),
      hash: e.tokenSha256,
    }));
    accepted = new Map();
  };
  if (entries) set(entries);
  const refuse = (why: string) => new ConnectError(why, Code.Unauthenticated);
  return {
    enabled: entries !== undefined,
    get size() {
      return table.length;
    },
    replace: set,
    authenticate(headers) {
      if (!entries) return ANONYMOUS;
      // Fetch's Headers and Node's HTTP/1.1 parser already strip the value's surrounding
      // whitespace (OWS); trimmed again for any other source of headers.
      const header = headers.get("authorization")?.trim();
      if (header === undefined || header === "") throw refuse(MISSING);
      const known = accepted.get(header);
      if (known) return known;
      const m = SCHEME.exec(header);
      const token = m?.[1] ?? "";
      if (!m || token.length === 0 || token.length > MAX_TOKEN_LENGTH || !TOKEN.test(token)) {
        throw refuse("malformed authorization header; expected: Bearer <token>");
      }
      const presented = createHash("sha256").update(token, "utf8").digest();
      // Compare against every principal without stopping early: the time taken does not
      // tell which (or whether any) hash matched.
      let found: Principal | undefined;
      for (const row of table) {
        if (timingSafeEqual(presented, row.hash) && !found) found = row.principal;
      }
      if (!found) throw refuse("unknown bearer token");
      if (accepted.size >= MAX_ACCEPTED) accepted.clear();
      accepted.set(header, found);
      return found;
    },
  };
}
