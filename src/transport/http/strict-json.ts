import { Code, ConnectError } from "@connectrpc/connect";

const strictUtf8 = new TextDecoder("utf-8", { fatal: true });
/** A JSON escape of a UTF-16 surrogate: only then can a string hold a lone one. */
const SURROGATE_ESCAPE = /\\u[dD][89a-fA-F]/;

const malformed = (why: string) => new ConnectError(`malformed request: ${why}`, Code.InvalidArgument);

/**
 * The text decoder of every JSON request body (connect's `jsonOptions.textDecoder`: its JSON
 * serialization decodes with the one it is given, a lenient TextDecoder by default, which
 * turns bytes that are not UTF-8 into U+FFFD, so that distinct strings collide). This one
 * refuses them, and refuses a string (key or value) that escapes a lone UTF-16 surrogate
 * (`"\ud800"` is valid JSON but no Unicode text: it would be stored as U+FFFD). connect
 * passes what it throws on as the call's status (INVALID_ARGUMENT); syntax errors are left to
 * its JSON parser, which says INVALID_ARGUMENT itself. The text is parsed once more only when
 * it holds a surrogate escape at all.
 */
export const strictJsonText = {
  decode(bytes?: Uint8Array): string {
    let text: string;
    try {
      text = strictUtf8.decode(bytes);
    } catch {
      throw malformed("the JSON body is not valid UTF-8");
    }
    if (SURROGATE_ESCAPE.test(text)) checkSurrogates(text);
    return text;
  },
};

function checkSurrogates(text: string): void {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return;
  }
  const stack: unknown[] = [value];
  while (stack.length > 0) {
    const v = stack.pop();
    if (typeof v === "string") {
      if (!v.isWellFormed()) throw malformed("a JSON string holds a lone UTF-16 surrogate");
    } else if (Array.isArray(v)) stack.push(...v);
    else if (v !== null && typeof v === "object") {
      for (const [k, child] of Object.entries(v)) {
        if (!k.isWellFormed()) throw malformed("a JSON key holds a lone UTF-16 surrogate");
        stack.push(child);
      }
    }
  }
}
