import * as http2 from "node:http2";
import { create, type DescMessage, fromBinary, type MessageInitShape, type MessageShape, toBinary } from "@bufbuild/protobuf";
import { WatchTasksRequestSchema } from "../../gen/taskcontrol/v1/task_control_service_pb.js";

/**
 * A server-streaming gRPC call over bare node:http2, for a peer that truly stops reading:
 * pausing it stops window updates, so HTTP/2 flow control backs up to the server (grpc-js's
 * own client keeps draining the socket while its stream is paused).
 */
export function rawServerStream<I extends DescMessage, O extends DescMessage>(
  address: string,
  path: string,
  input: I,
  output: O,
  request: MessageInitShape<I>,
) {
  const session = http2.connect(`http://${address}`);
  session.on("error", () => undefined);
  const stream = session.request({
    ":method": "POST",
    ":path": path,
    "content-type": "application/grpc+proto",
    te: "trailers",
  });
  stream.end(grpcFrame(toBinary(input, create(input, request))));
  stream.pause();
  let buffered = Buffer.alloc(0);
  const messages: MessageShape<O>[] = [];
  const done = new Promise<{ status: number; message: string }>((resolve) => {
    let trailers: http2.IncomingHttpHeaders = {};
    stream.on("response", (h) => (trailers = h));
    stream.on("trailers", (h) => (trailers = h));
    stream.on("data", (chunk: Buffer) => {
      buffered = Buffer.concat([buffered, chunk]);
      while (buffered.length >= 5 && buffered.length >= 5 + buffered.readUInt32BE(1)) {
        const len = buffered.readUInt32BE(1);
        messages.push(fromBinary(output, buffered.subarray(5, 5 + len)));
        buffered = buffered.subarray(5 + len);
      }
    });
    const finish = () =>
      resolve({
        status: Number(trailers["grpc-status"] ?? -1),
        message: decodeURIComponent(String(trailers["grpc-message"] ?? "")),
      });
    stream.on("end", finish);
    stream.on("close", finish);
  });
  return {
    messages,
    done,
    /** Starts reading (everything buffered, then the trailers). */
    resume: () => stream.resume(),
    close: () => {
      stream.close();
      session.close();
    },
  };
}

/** The 5-byte gRPC envelope around one encoded message. */
function grpcFrame(body: Uint8Array): Buffer {
  const frame = Buffer.alloc(5 + body.length);
  frame.writeUInt32BE(body.length, 1);
  Buffer.from(body).copy(frame, 5);
  return frame;
}

/**
 * A WatchTasks stream over bare node:http2 that reads as fast as the socket allows and throws
 * the bytes away (a grpc-js client decoding fifty streams would compete with the server being
 * measured for the same core).
 */
export function readingWatcher(session: http2.ClientHttp2Session, owner: string) {
  const stream = session.request({
    ":method": "POST",
    ":path": "/taskcontrol.v1.TaskControlService/WatchTasks",
    "content-type": "application/grpc+proto",
    te: "trailers",
  });
  stream.end(grpcFrame(toBinary(WatchTasksRequestSchema, create(WatchTasksRequestSchema, { owner }))));
  let bytes = 0;
  let status: string | undefined;
  stream.on("trailers", (h) => (status = String(h["grpc-status"])));
  stream.on("response", (h) => h["grpc-status"] !== undefined && (status = String(h["grpc-status"])));
  stream.on("data", (d: Buffer) => (bytes += d.length));
  stream.on("error", () => undefined);
  return { bytes: () => bytes, status: () => status, close: () => stream.close() };
}
