// How the grpc-js adapter turns bytes, metadata and errors into protobuf-es messages, fetch
// Headers and grpc-js statuses (with google.rpc.Status details), and back.
import { create, fromBinary, isMessage, toBinary } from "@bufbuild/protobuf";
import type { DescMessage } from "@bufbuild/protobuf";
import { Code, ConnectError } from "@connectrpc/connect";
import * as grpc from "@grpc/grpc-js";
import { statusDetailsBin } from "../../service/errors.js";
import { boundedError } from "../status.js";

/** The trailer that carries google.rpc.Status (with ErrorInfo and other details) on gRPC. */
const STATUS_DETAILS_KEY = "grpc-status-details-bin";

/** A request the adapter could not decode; surfaces as INVALID_ARGUMENT, not INTERNAL. */
class Undecodable {
  constructor(readonly reason: string) {}
}

const encoded = new WeakMap<object, Buffer>();

/**
 * Serialises a response once, however many streams it is written to (fan-out sends the same
 * WatchTasksResponse object to every watcher). `shared: "frozen"` (unary answers, each written
 * once) keeps the bytes only of frozen messages, the answers made once and reused
 * (service/progress-answers.ts): a WeakMap entry per one-shot answer cost more than the
 * encoding it would save (profiled on Heartbeat).
 */
export function serializer(schema: DescMessage, shared: "all" | "frozen" = "all") {
  return (value: unknown): Buffer => {
    const msg = isMessage(value, schema) ? value : create(schema, value as never);
    const keep = shared === "all" || Object.isFrozen(msg);
    let bytes = keep ? encoded.get(msg) : undefined;
    if (!bytes) {
      const b = toBinary(schema, msg);
      bytes = Buffer.from(b.buffer, b.byteOffset, b.byteLength);
      if (keep) encoded.set(msg, bytes);
    }
    return bytes;
  };
}

export function deserializer(schema: DescMessage) {
  return (buf: Buffer): unknown => {
    try {
      return fromBinary(schema, buf);
    } catch (err) {
      return new Undecodable(`malformed ${schema.typeName}: ${(err as Error).message}`);
    }
  };
}

export function metadataToHeaders(md: grpc.Metadata): Headers {
  const headers = new Headers();
  for (const [key, value] of Object.entries(md.getMap())) {
    if (typeof value !== "string") continue;
    try {
      headers.append(key, value);
    } catch {
      // A value fetch's Headers refuses (control characters) is dropped, not an INTERNAL.
    }
  }
  return headers;
}

export function toMetadata(headers: Headers, into = new grpc.Metadata()): grpc.Metadata {
  headers.forEach((v, k) => into.set(k, v));
  return into;
}

/** The status of a call that failed with `err`, over the trailers the handler set (if any). */
export function toStatus(err: unknown, trailer: grpc.Metadata | undefined): Partial<grpc.StatusObject> & { code: grpc.status } {
  const ce = boundedError(err);
  const metadata = trailer ?? new grpc.Metadata();
  toMetadata(ce.metadata, metadata);
  metadata.set(STATUS_DETAILS_KEY, Buffer.from(statusDetailsBin(ce)));
  return { code: ce.code as number as grpc.status, details: ce.rawMessage, metadata };
}

/**
 * A server stream's request as grpc-js keeps it: for the call's whole life (in its handler's
 * closure and as `call.request`), which for a held RequestConfirmation is hours of its title
 * and components, decoded. The adapter takes the message out; grpc-js keeps the empty box.
 */
class HeldRequest {
  constructor(public message: unknown) {}
}

/** The deserializer of a server-streaming method's request: the decoded message in a HeldRequest. */
export function heldDeserializer(schema: DescMessage) {
  const decode = deserializer(schema);
  return (buf: Buffer): unknown => new HeldRequest(decode(buf));
}

/** The decoded request, or INVALID_ARGUMENT for one the deserializer could not read; a HeldRequest is emptied. */
export function decoded(request: unknown): unknown {
  if (request instanceof HeldRequest) {
    const message = request.message;
    request.message = undefined;
    return decoded(message);
  }
  if (request instanceof Undecodable) throw new ConnectError(request.reason, Code.InvalidArgument);
  return request;
}

