import * as http from "node:http";
import * as http2 from "node:http2";
import { TaskControlService } from "../../gen/taskcontrol/v1/task_control_service_pb.js";

/** Raw streams over every protocol of both listeners, for peers that stop reading and go away. */

/** The streaming RPCs. */
export type StreamRpc = "WatchTasks" | "RequestConfirmation" | "StreamProgress";
/** A protocol and the listener it reaches. */
export type Protocol = "grpc-js listener" | "connect h2c" | "grpc h2c" | "grpc-web http/1.1" | "connect http/1.1";
/** Every protocol the two listeners serve in plaintext. */
export const PROTOCOLS: readonly Protocol[] = ["grpc-js listener", "connect h2c", "grpc h2c", "grpc-web http/1.1", "connect http/1.1"];

export function contentType(p: Protocol): string {
  if (p === "connect h2c" || p === "connect http/1.1") return "application/connect+proto";
  if (p === "grpc-web http/1.1") return "application/grpc-web+proto";
  return "application/grpc+proto";
}

/** Opens one stream that never reads and resolves once the server answered its headers. */
export function openH2(session: http2.ClientHttp2Session, p: Protocol, rpc: StreamRpc, body: Uint8Array): Promise<http2.ClientHttp2Stream> {
  const stream = session.request({
    ":method": "POST",
    ":path": `/${TaskControlService.typeName}/${rpc}`,
    "content-type": contentType(p),
    "connect-protocol-version": "1",
    te: "trailers",
  });
  stream.on("error", () => undefined);
  stream.pause();
    // A client stream stays open (its request never ends); a server stream sends its one message.
  if (rpc === "StreamProgress") stream.write(body);
  else stream.end(body);
  return new Promise((resolve) => {
    stream.once("response", () => resolve(stream));
    // A client stream answers only at its end: give the server a moment to admit it.
    if (rpc === "StreamProgress") setTimeout(() => resolve(stream), 30);
    stream.once("close", () => resolve(stream));
  });
}

export function openH1(address: string, p: Protocol, rpc: StreamRpc, body: Uint8Array): Promise<http.ClientRequest> {
  const [host, port] = address.split(":");
  const req = http.request({
    host,
    port: Number(port),
    method: "POST",
    path: `/${TaskControlService.typeName}/${rpc}`,
    agent: false,
    headers: { "content-type": contentType(p), "connect-protocol-version": "1", "x-grpc-web": "1" },
  });
  req.on("error", () => undefined);
    if (rpc === "StreamProgress") {
    req.flushHeaders();
    req.write(body);
  } else req.end(body);
  return new Promise((resolve) => {
    // Never read the response: the socket's buffers fill and the server waits on its write.
    req.once("response", (res) => {
      res.pause();
      resolve(req);
    });
    // A client stream answers only at its end: give the server a moment to admit it.
    if (rpc === "StreamProgress") setTimeout(() => resolve(req), 30);
    req.once("close", () => resolve(req));
  });
}

/**
 * Opens `count` streams of `rpc` over `p` at once, each sending `body` (one enveloped message)
 * and never reading, then resets them all (RST_STREAM CANCEL, or the HTTP/1.1 socket destroyed).
 */
export async function resetStreams(
  app: { grpcAddress: string; httpAddress: string },
  p: Protocol,
  rpc: StreamRpc,
  body: Uint8Array,
  count: number,
): Promise<void> {
  if (p === "grpc-web http/1.1" || p === "connect http/1.1") {
    const reqs = await Promise.all(Array.from({ length: count }, () => openH1(app.httpAddress, p, rpc, body)));
    await new Promise((r) => setTimeout(r, 5));
    for (const req of reqs) req.destroy();
    return;
  }
  const session = http2.connect(`http://${p === "grpc-js listener" ? app.grpcAddress : app.httpAddress}`);
  session.on("error", () => undefined);
  const streams = await Promise.all(Array.from({ length: count }, () => openH2(session, p, rpc, body)));
  await new Promise((r) => setTimeout(r, 5));
  for (const s of streams) s.close(http2.constants.NGHTTP2_CANCEL);
  session.close();
}
