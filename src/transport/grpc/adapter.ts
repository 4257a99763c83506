import { once } from "node:events";
import { create, fromBinary, isMessage, toBinary } from "@bufbuild/protobuf";
import type { DescMessage, DescMethod, DescService } from "@bufbuild/protobuf";
import { Code, ConnectError, type ContextValues, createHandlerContext, type ServiceImpl } from "@connectrpc/connect";
import * as grpc from "@grpc/grpc-js";
import type { ServerSurfaceCall } from "@grpc/grpc-js/build/src/server-call.js";

/** Per-call hooks the composition root supplies (authentication, metrics). */
export interface GrpcAdapterHooks {
  /** Builds the call's context values from its headers; throws a ConnectError to refuse. */
  contextValues(headers: Headers, method: DescMethod): ContextValues | Promise<ContextValues>;
  /** Told when a call ends, with its status code and duration in milliseconds. */
  onCallEnd?(method: DescMethod, code: Code, ms: number): void;
  /** Told when a server or client stream opens (+1) and closes (-1). */
  onStream?(method: DescMethod, delta: 1 | -1): void;
  /** Aborted when the server drains; forwarded to each handler context. */
  shutdownSignal?: AbortSignal;
}

/** A request the adapter could not decode; surfaces as INVALID_ARGUMENT, not INTERNAL. */
class Undecodable {
  constructor(readonly reason: string) {}
}

/** Code of a call that ended well (connect's Code has no OK member). */
const OK = 0 as Code;

const encoded = new WeakMap<object, Buffer>();

/**
 * Serialises a response once, however many streams it is written to (fan-out sends the same
 * WatchTasksResponse object to every watcher).
 */
function serializer(schema: DescMessage) {
  return (value: unknown): Buffer => {
    const msg = isMessage(value, schema) ? value : create(schema, value as never);
    let bytes = encoded.get(msg);
    if (!bytes) {
      const b = toBinary(schema, msg);
      bytes = Buffer.from(b.buffer, b.byteOffset, b.byteLength);
      encoded.set(msg, bytes);
    }
    return bytes;
  };
}

function deserializer(schema: DescMessage) {
  return (buf: Buffer): unknown => {
    try {
      return fromBinary(schema, buf);
    } catch (err) {
      return new Undecodable(`malformed ${schema.typeName}: ${(err as Error).message}`);
    }
  };
}

function metadataToHeaders(md: grpc.Metadata): Headers {
  const headers = new Headers();
  for (const [key, value] of Object.entries(md.getMap())) {
    if (typeof value === "string") headers.append(key, value);
  }
  return headers;
}

function toStatus(err: unknown): Partial<grpc.StatusObject> & { code: grpc.status } {
  const ce = ConnectError.from(err);
  const metadata = new grpc.Metadata();
  ce.metadata.forEach((v, k) => metadata.set(k, v));
  return { code: ce.code as number as grpc.status, details: ce.rawMessage, metadata };
}

/**
 * Builds a grpc-js service definition and handlers for any generated service descriptor and
 * its ServiceImpl: the same implementation connect-node serves, with the same
 * HandlerContext (signal, headers, context values). No business logic lives here.
 */
export function grpcService<S extends DescService>(
  service: S,
  impl: ServiceImpl<S>,
  hooks: GrpcAdapterHooks,
): { definition: grpc.ServiceDefinition; handlers: grpc.UntypedServiceImplementation } {
  const definition: Record<string, grpc.MethodDefinition<unknown, unknown>> = {};
  const handlers: grpc.UntypedServiceImplementation = {};
  for (const method of service.methods) {
    const fn = (impl as unknown as Record<string, (...args: unknown[]) => unknown>)[method.localName]!;
    const clientStreams = method.methodKind === "client_streaming" || method.methodKind === "bidi_streaming";
    const serverStreams = method.methodKind === "server_streaming" || method.methodKind === "bidi_streaming";
    definition[method.name] = {
      path: `/${service.typeName}/${method.name}`,
      requestStream: clientStreams,
      responseStream: serverStreams,
      requestSerialize: serializer(method.input),
      requestDeserialize: deserializer(method.input),
      responseSerialize: serializer(method.output),
      responseDeserialize: deserializer(method.output),
      originalName: method.localName,
    };

    async function context(call: ServerSurfaceCall, abort: AbortController) {
      const deadline = call.getDeadline();
      const ms = deadline instanceof Date ? deadline.getTime() - Date.now() : deadline - Date.now();
      const headers = metadataToHeaders(call.metadata);
      const values = await hooks.contextValues(headers, method);
      return createHandlerContext({
        service,
        method,
        protocolName: "grpc",
        requestMethod: "POST",
        url: `/${service.typeName}/${method.name}`,
        timeoutMs: Number.isFinite(ms) ? Math.max(ms, 0) : undefined,
        requestHeader: headers,
        contextValues: values,
        requestSignal: abort.signal,
        shutdownSignal: hooks.shutdownSignal,
      });
    }

    const started = (): (() => number) => {
      const t0 = performance.now();
      return () => performance.now() - t0;
    };

    function decoded(request: unknown): unknown {
      if (request instanceof Undecodable) throw new ConnectError(request.reason, Code.InvalidArgument);
      return request;
    }

    if (!clientStreams && !serverStreams) {
      handlers[method.name] = ((call: grpc.ServerUnaryCall<unknown, unknown>, callback: grpc.sendUnaryData<unknown>) => {
        const elapsed = started();
        const abort = new AbortController();
        call.on("cancelled", () => abort.abort());
        (async () => fn(decoded(call.request), await context(call, abort)))().then(
          (res) => {
            hooks.onCallEnd?.(method, OK, elapsed());
            callback(null, res);
          },
          (err) => {
            const status = toStatus(err);
            hooks.onCallEnd?.(method, status.code as number as Code, elapsed());
            callback(status);
          },
        );
      }) as grpc.handleUnaryCall<unknown, unknown>;
    } else if (serverStreams && !clientStreams) {
      handlers[method.name] = ((call: grpc.ServerWritableStream<unknown, unknown>) => {
        const elapsed = started();
        const abort = new AbortController();
        call.on("cancelled", () => abort.abort());
        hooks.onStream?.(method, 1);
        (async () => {
          const ctx = await context(call, abort);
          for await (const res of fn(decoded(call.request), ctx) as AsyncIterable<unknown>) {
            if (abort.signal.aborted) break;
            // Respect the socket: a slow reader stops the generator, whose queue is bounded.
            if (!call.write(res)) await Promise.race([once(call, "drain"), once(abort.signal, "abort")]);
          }
        })().then(
          () => {
            hooks.onStream?.(method, -1);
            hooks.onCallEnd?.(method, abort.signal.aborted ? Code.Canceled : OK, elapsed());
            if (!abort.signal.aborted) call.end();
          },
          (err) => {
            hooks.onStream?.(method, -1);
            const status = toStatus(err);
            hooks.onCallEnd?.(method, status.code as number as Code, elapsed());
            if (!abort.signal.aborted) call.emit("error", status);
          },
        );
      }) as grpc.handleServerStreamingCall<unknown, unknown>;
    } else if (clientStreams && !serverStreams) {
      handlers[method.name] = ((call: grpc.ServerReadableStream<unknown, unknown>, callback: grpc.sendUnaryData<unknown>) => {
        const elapsed = started();
        const abort = new AbortController();
        call.on("cancelled", () => abort.abort());
        hooks.onStream?.(method, 1);
        async function* requests(): AsyncGenerator<unknown> {
          for await (const m of call) yield decoded(m);
        }
        (async () => fn(requests(), await context(call, abort)))().then(
          (res) => {
            hooks.onStream?.(method, -1);
            hooks.onCallEnd?.(method, OK, elapsed());
            callback(null, res);
          },
          (err) => {
            hooks.onStream?.(method, -1);
            const status = toStatus(err);
            hooks.onCallEnd?.(method, status.code as number as Code, elapsed());
            callback(status);
          },
        );
      }) as grpc.handleClientStreamingCall<unknown, unknown>;
    } else {
      throw new Error(`${method.name}: bidirectional streaming is not served`);
    }
  }
  return { definition: definition as grpc.ServiceDefinition, handlers };
}
