import { InvalidArgumentError } from "./errors.js";
import type { JsonObject, JsonValue } from "./model.js";

/** Input bounds, enforced before anything is stored. The proto comments document the same numbers. */
export const LIMITS = Object.freeze({
  idLength: 128,
  ownerLength: 128,
  kindLength: 128,
  labelLength: 512,
  titleLength: 512,
  errorMessageLength: 4096,
  reasonLength: 1024,
  textLength: 4096,
  /** Bytes of a Struct payload serialised as JSON. */
  structBytes: 64 * 1024,
  structDepth: 32,
  components: 64,
  selectOptions: 100,
  watchTaskIds: 1000,
  /** Bytes of one whole request message on either listener. */
  messageBytes: 4 * 1024 * 1024,
  /** Longest confirmation timeout: 30 days in milliseconds. */
  maxTimeoutMs: 30 * 24 * 3600 * 1000,
});

const ID_PATTERN = /^[A-Za-z0-9._:@-]+$/;

/** Throws unless `value` is a well-formed id (1-128 of [A-Za-z0-9._:@-]). */
export function checkId(field: string, value: string): void {
  if (value.length === 0) throw new InvalidArgumentError(field, "is required");
  if (value.length > LIMITS.idLength) throw new InvalidArgumentError(field, `longer than ${LIMITS.idLength} characters`);
  if (!ID_PATTERN.test(value)) throw new InvalidArgumentError(field, "may only contain A-Z a-z 0-9 . _ : @ -");
}

/** Like checkId, but the empty string (no key) is allowed. */
export function checkOptionalId(field: string, value: string): void {
  if (value !== "") checkId(field, value);
}

/** Throws if `value` is longer than `max` characters or holds a NUL or unpaired surrogate. */
export function checkText(field: string, value: string, max: number): void {
  if (value.length > max) throw new InvalidArgumentError(field, `longer than ${max} characters`);
  if (!value.isWellFormed()) throw new InvalidArgumentError(field, "is not valid UTF-8 text");
  if (value.includes("\u0000")) throw new InvalidArgumentError(field, "contains a NUL character");
}

/** Throws if a Struct payload is too large or too deeply nested; returns its JSON size in bytes. */
export function checkStruct(field: string, value: JsonObject | null | undefined): void {
  if (value == null) return;
  checkDepth(field, value, 1);
  const bytes = Buffer.byteLength(JSON.stringify(value), "utf8");
  if (bytes > LIMITS.structBytes) {
    throw new InvalidArgumentError(field, `is ${bytes} bytes as JSON; at most ${LIMITS.structBytes}`);
  }
}

function checkDepth(field: string, value: JsonValue, depth: number): void {
  if (depth > LIMITS.structDepth) throw new InvalidArgumentError(field, `nested deeper than ${LIMITS.structDepth}`);
  if (typeof value === "number" && !Number.isFinite(value)) {
    throw new InvalidArgumentError(field, "holds a non-finite number");
  }
  if (typeof value === "string" && !value.isWellFormed()) {
    throw new InvalidArgumentError(field, "holds text that is not valid UTF-8");
  }
  if (value !== null && typeof value === "object") {
    for (const child of Array.isArray(value) ? value : Object.values(value)) checkDepth(field, child, depth + 1);
  }
}
