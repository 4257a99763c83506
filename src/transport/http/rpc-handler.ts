import type * as http from "node:http";
import type * as http2 from "node:http2";
import { Code, ConnectError, type ConnectRouter, type ConnectRouterOptions, type ContextValues, createConnectRouter } from "@connectrpc/connect";
import type { UniversalServerResponse } from "@connectrpc/connect/protocol";
import { encodeEnvelope } from "@connectrpc/connect/protocol";
import { codeToHttpStatus, errorFromJsonBytes, errorToJsonBytes } from "@connectrpc/connect/protocol-connect";
import { findTrailerError, setTrailerStatus } from "@connectrpc/connect/protocol-grpc";
import { trailerFlag, trailerParse, trailerSerialize } from "@connectrpc/connect/protocol-grpc-web";
import { universalRequestFromNodeRequest, universalResponseToNodeResponse } from "@connectrpc/connect-node";
import { ErrorInfoSchema } from "../../../gen/google/rpc/error_details_pb.js";
import { boundedError } from "../status.js";

/** The request and response connect-node serves (HTTP/1.1 or HTTP/2). */
export type Req = http.IncomingMessage | http2.Http2ServerRequest;
export type Res = http.ServerResponse | http2.Http2ServerResponse;

/** Options of rpcHandler. */
export interface RpcHandlerOptions extends ConnectRouterOptions {
  /** Registers the services. */
  routes(router: ConnectRouter): void;
  /** Builds each call's context values from its request. */
  contextValues(req: Req): ContextValues;
  /** Serves every request that is no RPC. */
  fallback(req: Req, res: Res): void;
  /** Told when a handler fails outside any call (connect-node logs these to the console). */
  onHandlerError?(method: string, err: unknown): void;
}

/**
 * The Node request handler of the HTTP listener, built as connect-node's own adapter is, from
 * its public parts (createConnectRouter, universalRequestFromNodeRequest,
 * universalResponseToNodeResponse), so that two things can happen between connect and the
 * socket without touching either:
 * - a status connect raised before any interceptor ran (a unary body it could not read, a
 *   message over the size limit) still carries an ErrorInfo reason and the right code;
 * - an HTTP/1.1 answer sent before the request body was read says `Connection: close`: the
 *   unread rest of the upload would otherwise sit in front of the next request.
 */
export function rpcHandler(options: RpcHandlerOptions): (req: Req, res: Res) => void {
  const router = createConnectRouter(options);
  options.routes(router);
  const paths = new Map(router.handlers.map((h) => [h.requestPath, h] as const));
  return (req, res) => {
    const handler = paths.get(req.url?.split("?", 2)[0] ?? "");
    if (!handler) {
      // Plain routes never read a body: whatever was uploaded stays unread.
      if (hasBody(req)) closeAfter(req, res);
      options.fallback(req, res);
      return;
    }
    const uReq = universalRequestFromNodeRequest(req, res, undefined, options.contextValues(req));
    handler(uReq)
      .then((uRes) => {
        if (!req.complete) closeAfter(req, res);
        return withReasons(uRes).then((fixed) => universalResponseToNodeResponse(fixed, res));
      })
      .catch((err: unknown) => {
        if (ConnectError.from(err).code === Code.Aborted) return;
        options.onHandlerError?.(handler.method.name, err);
      });
  };
}

function hasBody(req: Req): boolean {
  const length = req.headers["content-length"];
  return (length !== undefined && length !== "0") || req.headers["transfer-encoding"] !== undefined;
}

/** HTTP/1.1 only (an HTTP/2 stream is reset on its own, and has no Connection header). */
function closeAfter(req: Req, res: Res): void {
  if (req.httpVersionMajor === 1 && !res.headersSent) res.setHeader("connection", "close");
}

/** True when `ce` already names a reason (every error that passed the interceptor does). */
const hasReason = (ce: ConnectError) => ce.findDetails(ErrorInfoSchema).length > 0;

/** The status a caller gets for `ce`, which connect decoded from its own wire form. */
function reasoned(ce: ConnectError): ConnectError {
  const bare = new ConnectError(ce.rawMessage, ce.code);
  bare.details.push(...ce.details);
  return boundedError(bare);
}

/**
 * `res` with an ErrorInfo reason on a status that has none, read and written back with
 * connect's own codecs for each protocol's error form: a Connect unary error body, a gRPC
 * trailer, a gRPC-Web trailer frame. Only connect's own early errors are rewritten; a
 * Connect streaming call fails inside the interceptor, which gives the reason itself.
 */
async function withReasons(res: UniversalServerResponse): Promise<UniversalServerResponse> {
  const type = res.header?.get("content-type") ?? "";
  const body = res.body;
  if (!body || !(Symbol.asyncIterator in body)) return res;
  if (type.startsWith("application/json") && res.status !== 200) return connectUnaryError(res, body as AsyncIterable<Uint8Array>);
  if (type.startsWith("application/grpc-web")) return { ...res, body: grpcWebTrailer(body as AsyncIterable<Uint8Array>) };
  if (type.startsWith("application/grpc") && res.trailer) return { ...res, body: grpcTrailer(body as AsyncIterable<Uint8Array>, res.trailer) };
  return res;
}

/** A Connect unary error: one small JSON body, read whole (connect built it from one chunk). */
async function connectUnaryError(res: UniversalServerResponse, body: AsyncIterable<Uint8Array>): Promise<UniversalServerResponse> {
  const chunks: Uint8Array[] = [];
  for await (const chunk of body) chunks.push(chunk);
  const bytes = Buffer.concat(chunks);
  const header = new Headers(res.header);
  // A compressed error body (past compressMinBytes) is none of connect's early ones: kept.
  const ce = header.has("content-encoding") ? undefined : errorFromJsonBytes(bytes, undefined, new ConnectError("", Code.Internal));
  if (!ce || hasReason(ce)) return { ...res, body: once(bytes) };
  const fixed = reasoned(ce);
  const out = errorToJsonBytes(fixed, undefined);
  header.set("content-length", String(out.byteLength));
  return { ...res, status: codeToHttpStatus(fixed.code), header, body: once(out) };
}

async function* once(bytes: Uint8Array): AsyncGenerator<Uint8Array> {
  yield bytes;
}

async function* grpcWebTrailer(body: AsyncIterable<Uint8Array>): AsyncGenerator<Uint8Array> {
  for await (const chunk of body) {
    // connect writes one whole envelope a chunk; the trailer frame is the last, uncompressed
    // unless it is large (then it came from the interceptor, with its reason).
    if (chunk[0] !== trailerFlag) {
      yield chunk;
      continue;
    }
    const trailer = trailerParse(chunk.subarray(5));
    const ce = findTrailerError(trailer);
    if (!ce || hasReason(ce)) {
      yield chunk;
      continue;
    }
    setTrailerStatus(trailer, reasoned(ce));
    yield encodeEnvelope(trailerFlag, trailerSerialize(trailer));
  }
}

async function* grpcTrailer(body: AsyncIterable<Uint8Array>, trailer: Headers): AsyncGenerator<Uint8Array> {
  yield* body;
  // connect fills the trailer once the body is done, and the adapter sends it after that.
  const ce = findTrailerError(trailer);
  if (ce && !hasReason(ce)) setTrailerStatus(trailer, reasoned(ce));
}
