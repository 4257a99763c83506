import { type DescMessage, fromBinary } from "@bufbuild/protobuf";
import { Code, ConnectError, type ConnectRouter } from "@connectrpc/connect";
import type { Compression, UniversalHandler, UniversalServerRequest } from "@connectrpc/connect/protocol";

/** Options of strictBinaryRequests. */
export interface StrictDecodeOptions {
  /** Largest message; past it connect refuses with RESOURCE_EXHAUSTED, so checking stops. */
  readMaxBytes: number;
  /** The compressions the router accepts, to look inside compressed messages too. */
  compressions: readonly Compression[];
}

/**
 * connect-node reports a protobuf body it cannot decode (bad wire format, invalid UTF-8 in a
 * string) as INTERNAL, as if the server were at fault; the gRPC listener says
 * INVALID_ARGUMENT. And it decodes JSON bodies with a lenient TextDecoder, so bytes that are
 * not UTF-8 become U+FFFD and distinct strings collide. This wraps every handler of the
 * router so the request body is checked as it streams in (each message decoded once more,
 * the price of the clean status), and a malformed message ends the call with
 * INVALID_ARGUMENT naming the message type: protobuf must decode (protobuf-es verifies the
 * UTF-8 of proto3 strings), JSON must be UTF-8 with no lone surrogate escaped in a string.
 */
export function strictBinaryRequests(router: ConnectRouter, options: StrictDecodeOptions): void {
  router.handlers.forEach((handler, i) => {
    const single = handler.method.methodKind === "unary" || handler.method.methodKind === "server_streaming";
    const wrapped = (req: UniversalServerRequest) => handler({ ...req, body: checkedBody(req, handler.method.input, single, options) });
    router.handlers[i] = Object.assign(wrapped, handler) as UniversalHandler;
  });
}

/** How the body of a request is framed and encoded, by its content type. */
interface Framing {
  kind: "whole" | "enveloped";
  encodingHeader: string;
  codec: "proto" | "json";
}

function framing(req: UniversalServerRequest): Framing | undefined {
  const type = (req.header.get("content-type") ?? "").split(";")[0]!.trim().toLowerCase();
  const m = /^application\/(?:(connect|grpc|grpc-web)\+)?(proto|json)$/.exec(type) ?? /^application\/(grpc|grpc-web)$/.exec(type);
  if (!m) return undefined;
  const codec = m[2] === "json" ? "json" : "proto";
  if (!m[1]) return { kind: "whole", encodingHeader: "content-encoding", codec };
  return { kind: "enveloped", encodingHeader: m[1] === "connect" ? "connect-content-encoding" : "grpc-encoding", codec };
}

const strictUtf8 = new TextDecoder("utf-8", { fatal: true });
/** A JSON escape of a UTF-16 surrogate: only then can a string hold a lone one. */
const SURROGATE_ESCAPE = /\\u[dD][89a-fA-F]/;

/**
 * Throws unless `bytes` are UTF-8 and no string of the JSON (key or value) holds a lone
 * surrogate (`"\ud800"` is valid JSON but no Unicode text: it would be stored as U+FFFD).
 * Syntax errors are left to connect, which reports them as INVALID_ARGUMENT itself.
 */
function checkJsonText(bytes: Uint8Array): void {
  let text: string;
  try {
    text = strictUtf8.decode(bytes);
  } catch {
    throw new Error("the body is not valid UTF-8");
  }
  if (!SURROGATE_ESCAPE.test(text)) return;
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
      if (!v.isWellFormed()) throw new Error("a string holds a lone UTF-16 surrogate");
    } else if (Array.isArray(v)) stack.push(...v);
    else if (v !== null && typeof v === "object") {
      for (const [k, child] of Object.entries(v)) {
        if (!k.isWellFormed()) throw new Error("a key holds a lone UTF-16 surrogate");
        stack.push(child);
      }
    }
  }
}

function checkedBody(
  req: UniversalServerRequest,
  schema: DescMessage,
  single: boolean,
  options: StrictDecodeOptions,
): UniversalServerRequest["body"] {
  const body = req.body;
  const frame = framing(req);
  if (!frame || typeof body !== "object" || body === null || !(Symbol.asyncIterator in body)) return body;
  const name = req.header.get(frame.encodingHeader);
  const compression = name && name !== "identity" ? options.compressions.find((c) => c.name === name) : undefined;
  // An unknown encoding is connect's to refuse (UNIMPLEMENTED); nothing to check here.
  if (name && name !== "identity" && !compression) return body;
  const check = async (data: Uint8Array, compressed: boolean) => {
    let plain = data;
    if (compressed) {
      if (!compression) return;
      try {
        plain = await compression.decompress(data, options.readMaxBytes);
      } catch {
        return; // connect reports a bad compressed stream itself
      }
    }
    try {
      if (frame.codec === "json") checkJsonText(plain);
      else fromBinary(schema, plain);
    } catch (err) {
      throw new ConnectError(`malformed ${schema.typeName}: ${(err as Error).message}`, Code.InvalidArgument);
    }
  };
  const source = body as AsyncIterable<Uint8Array>;
  return frame.kind === "whole"
    ? whole(source, options.readMaxBytes, (b) => check(b, !!compression))
    : enveloped(source, options.readMaxBytes, check, single ? schema.typeName : undefined);
}

/** A unary Connect body: passed through chunk by chunk, checked whole before it ends. */
async function* whole(
  source: AsyncIterable<Uint8Array>,
  max: number,
  check: (bytes: Uint8Array) => Promise<void>,
): AsyncGenerator<Uint8Array> {
  const chunks = new Chunks();
  for await (const chunk of source) {
    if (chunks.size <= max) chunks.push(chunk);
    yield chunk;
  }
  if (chunks.size <= max) await check(chunks.take(chunks.size));
}

/**
 * Enveloped messages (gRPC, gRPC-Web, Connect streaming): each checked before it is passed
 * on. For a method that takes one request (`single` names its type), none or several are
 * INVALID_ARGUMENT too, where connect would say UNIMPLEMENTED.
 */
async function* enveloped(
  source: AsyncIterable<Uint8Array>,
  max: number,
  check: (bytes: Uint8Array, compressed: boolean) => Promise<void>,
  single: string | undefined,
): AsyncGenerator<Uint8Array> {
  const chunks = new Chunks();
  let checking = true;
  let messages = 0;
  for await (const chunk of source) {
    if (checking) {
      chunks.push(chunk);
      for (;;) {
        if (chunks.size < 5) break;
        const head = chunks.peek(5);
        const flags = head[0]!;
        const length = new DataView(head.buffer, head.byteOffset, 5).getUint32(1);
        // Too large: connect ends the call RESOURCE_EXHAUSTED; stop buffering for it.
        if (length > max) {
          checking = false;
          chunks.clear();
          break;
        }
        if (chunks.size < 5 + length) break;
        const data = chunks.take(5 + length).subarray(5);
        // Bit 1 marks an end-of-stream or trailer frame, which carries no request message.
        if ((flags & 0b10) !== 0) continue;
        if (single && ++messages > 1) throw new ConnectError(`more than one ${single} in the request`, Code.InvalidArgument);
        await check(data, (flags & 0b01) !== 0);
      }
    }
    yield chunk;
  }
  if (checking && single && messages === 0) {
    throw new ConnectError(`the request carries no ${single}${chunks.size > 0 ? " (incomplete envelope)" : ""}`, Code.InvalidArgument);
  }
}

/** A byte queue that copies only when a frame is read out of it. */
class Chunks {
  private list: Uint8Array[] = [];
  size = 0;

  push(chunk: Uint8Array): void {
    this.list.push(chunk);
    this.size += chunk.byteLength;
  }

  clear(): void {
    this.list = [];
    this.size = 0;
  }

  /** The first n bytes, without consuming them. */
  peek(n: number): Uint8Array {
    const first = this.list[0]!;
    if (first.byteLength >= n) return first.subarray(0, n);
    return this.copy(n, false);
  }

  /** Removes and returns the first n bytes. */
  take(n: number): Uint8Array {
    return this.copy(n, true);
  }

  private copy(n: number, consume: boolean): Uint8Array {
    const out = new Uint8Array(n);
    let filled = 0;
    let i = 0;
    while (filled < n) {
      const c = this.list[i]!;
      const part = Math.min(c.byteLength, n - filled);
      out.set(c.subarray(0, part), filled);
      filled += part;
      if (consume) {
        if (part === c.byteLength) this.list.shift();
        else this.list[0] = c.subarray(part);
      } else i++;
    }
    if (consume) this.size -= n;
    return out;
  }
}
