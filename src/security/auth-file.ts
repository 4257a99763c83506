import { readFile } from "node:fs/promises";
import { ConfigError } from "../config.js";
import type { Role } from "../service/principal.js";

/** One principal of the auth file, with its token hash decoded for comparison. */
export interface AuthEntry {
  readonly name: string;
  readonly role: Role;
  /** Role user only: the owner whose tasks it may see. */
  readonly owner?: string | undefined;
  /** sha-256 of the bearer token (32 bytes); the token itself is never stored. */
  readonly tokenSha256: Buffer;
}

/** A bad auth file: refuses startup; on SIGHUP the previous principals stay in force. */
export class AuthFileError extends ConfigError {}

const ROLES: ReadonlySet<string> = new Set<Role>(["worker", "user", "gateway", "admin"]);
const FIELDS: ReadonlySet<string> = new Set(["name", "role", "owner", "token_sha256"]);

/**
 * Parses `{"principals":[{"name","role","owner","token_sha256"}]}` strictly: an unknown
 * field, role or a duplicate name or hash is an error, because a typo in a security file
 * should stop the server, not quietly grant or deny access.
 */
export function parseAuthFile(text: string, source = "auth file"): AuthEntry[] {
  let doc: unknown;
  try {
    doc = JSON.parse(text);
  } catch (err) {
    throw new AuthFileError(`${source}: not valid JSON (${(err as Error).message})`);
  }
  const principals = (doc as { principals?: unknown } | null)?.principals;
  if (typeof doc !== "object" || doc === null || Array.isArray(doc) || !Array.isArray(principals)) {
    throw new AuthFileError(`${source}: expected {"principals": [...]}`);
  }
  const names = new Set<string>();
  const hashes = new Set<string>();
  return principals.map((raw: unknown, i: number): AuthEntry => {
    const at = `${source}: principals[${i}]`;
    if (typeof raw !== "object" || raw === null || Array.isArray(raw)) throw new AuthFileError(`${at} must be an object`);
    const p = raw as Record<string, unknown>;
    for (const key of Object.keys(p)) if (!FIELDS.has(key)) throw new AuthFileError(`${at}: unknown field "${key}"`);
    const { name, role, owner, token_sha256: hash } = p;
    if (typeof name !== "string" || name === "" || name.length > 128) {
      throw new AuthFileError(`${at}.name must be a non-empty string of at most 128 characters`);
    }
    if (names.has(name)) throw new AuthFileError(`${at}: duplicate name "${name}"`);
    names.add(name);
    if (typeof role !== "string" || !ROLES.has(role)) {
      throw new AuthFileError(`${at}.role must be one of worker, user, gateway, admin`);
    }
    if (role === "user") {
      if (typeof owner !== "string" || owner === "") throw new AuthFileError(`${at}.owner is required for role user`);
    } else if (owner !== undefined) {
      throw new AuthFileError(`${at}.owner is only for role user (role ${role} may act for any owner)`);
    }
    if (typeof hash !== "string" || !/^[0-9a-fA-F]{64}$/.test(hash)) {
      throw new AuthFileError(`${at}.token_sha256 must be 64 hex digits (sha-256 of the token)`);
    }
    const lower = hash.toLowerCase();
    if (hashes.has(lower)) throw new AuthFileError(`${at}: the same token_sha256 is given twice`);
    hashes.add(lower);
    return Object.freeze({
      name,
      role: role as Role,
      owner: role === "user" ? (owner as string) : undefined,
      tokenSha256: Buffer.from(lower, "hex"),
    });
  });
}

/** Reads and parses the auth file; any failure is an AuthFileError naming the path. */
export async function loadAuthFile(path: string): Promise<AuthEntry[]> {
  let text: string;
  try {
    text = await readFile(path, "utf8");
  } catch (err) {
    throw new AuthFileError(`cannot read auth file ${path}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  return parseAuthFile(text, path);
}
