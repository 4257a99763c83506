import { createHash } from "node:crypto";
import { Code, ConnectError } from "@connectrpc/connect";
import { ANONYMOUS, type Principal } from "../service/principal.js";
import type { AuthEntry } from "./auth-file.js";

/** Longest bearer token accepted; anything longer is malformed, not hashed. */
const MAX_TOKEN_LENGTH = 4096;
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
  // Principals by the SHA-256 of their token (hex): a call hashes what it presents and looks
  // the digest up, so no comparison ever touches the token itself, and the time taken does
  // not depend on how many principals there are or which one matched.
  let byHash = new Map<string, Principal>();
  let size = 0;
  const set = (list: readonly AuthEntry[]) => {
    const next = new Map<string, Principal>();
    for (const e of list) {
      const key = e.tokenSha256.toString("hex");
      // Two entries with one token: the first stands, as the scan in file order did.
      if (!next.has(key)) next.set(key, Object.freeze({ name: e.name, role: e.role, owner: e.owner }));
    }
    byHash = next;
    size = list.length;
  };
  if (entries) set(entries);
  const refuse = (why: string) => new ConnectError(why, Code.Unauthenticated);
  return {
    enabled: entries !== undefined,
    get size() {
      return size;
    },
    replace: set,
    authenticate(headers) {
      if (!entries) return ANONYMOUS;
      // Fetch's Headers and Node's HTTP/1.1 parser already strip the value's surrounding
      // whitespace (OWS); trimmed again for any other source of headers.
      const header = headers.get("authorization")?.trim();
      if (header === undefined || header === "") throw refuse(MISSING);
      const m = SCHEME.exec(header);
      const token = m?.[1] ?? "";
      if (!m || token.length === 0 || token.length > MAX_TOKEN_LENGTH || !TOKEN.test(token)) {
        throw refuse("malformed authorization header; expected: Bearer <token>");
      }
      const found = byHash.get(createHash("sha256").update(token, "utf8").digest("hex"));
      if (!found) throw refuse("unknown bearer token");
      return found;
    },
  };
}
