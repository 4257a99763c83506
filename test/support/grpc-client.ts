import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import type { DescMethod, DescService, MessageInitShape, MessageShape } from "@bufbuild/protobuf";
import * as grpc from "@grpc/grpc-js";
import { TaskControlService } from "../../gen/taskcontrol/v1/task_control_service_pb.js";

type AnyMsg = MessageShape<DescMethod["input"]>;

/** A promise-based @grpc/grpc-js client for any generated service, built from its descriptor. */
export interface GrpcTestClient {
  unary<O = AnyMsg>(method: string, request: object, metadata?: Record<string, string>): Promise<O>;
  serverStream<O = AnyMsg>(
    method: string,
    request: object,
    metadata?: Record<string, string>,
  ): { responses: AsyncIterable<O>; call: grpc.ClientReadableStream<O> };
  clientStream<O = AnyMsg>(
    method: string,
    requests: AsyncIterable<object> | Iterable<object>,
    metadata?: Record<string, string>,
  ): Promise<O>;
  /** The raw grpc-js client, for channel-level checks. */
  readonly raw: grpc.Client;
  close(): void;
}

/** Builds a client with real serialisation (toBinary/fromBinary of the generated schemas). */
export function grpcClient(
  address: string,
  options: { service?: DescService; credentials?: grpc.ChannelCredentials; channelOptions?: grpc.ChannelOptions } = {},
): GrpcTestClient {
  const service = options.service ?? TaskControlService;
  const byName = new Map(service.methods.map((m) => [m.name, m] as const));
  const raw = new grpc.Client(address, options.credentials ?? grpc.credentials.createInsecure(), options.channelOptions);
  const path = (m: DescMethod) => `/${service.typeName}/${m.name}`;
  const ser = (m: DescMethod) => (v: object) => Buffer.from(toBinary(m.input, create(m.input, v as MessageInitShape<typeof m.input>)));
  const de = (m: DescMethod) => (b: Buffer) => fromBinary(m.output, b);
  const method = (name: string): DescMethod => {
    const m = byName.get(name);
    if (!m) throw new Error(`no method ${name}`);
    return m;
  };
  const md = (h?: Record<string, string>) => {
    const out = new grpc.Metadata();
    for (const [k, v] of Object.entries(h ?? {})) out.set(k, v);
    return out;
  };
  return {
    raw,
    unary(name, request, metadata) {
      const m = method(name);
      return new Promise((resolve, reject) =>
        raw.makeUnaryRequest(path(m), ser(m), de(m), request, md(metadata), (err, res) =>
          err ? reject(err) : resolve(res as never),
        ),
      );
    },
    serverStream(name, request, metadata) {
      const m = method(name);
      const call = raw.makeServerStreamRequest(path(m), ser(m), de(m), request, md(metadata));
      return { responses: call as unknown as AsyncIterable<never>, call: call as never };
    },
    clientStream(name, requests, metadata) {
      const m = method(name);
      return new Promise((resolve, reject) => {
        const call = raw.makeClientStreamRequest(path(m), ser(m), de(m), md(metadata), (err, res) =>
          err ? reject(err) : resolve(res as never),
        );
        (async () => {
          for await (const r of requests as AsyncIterable<object>) {
            if (!call.write(r)) await new Promise((ok) => call.once("drain", ok));
          }
          call.end();
        })().catch(() => call.cancel());
      });
    },
    close: () => raw.close(),
  };
}
