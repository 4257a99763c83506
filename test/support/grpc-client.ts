import { create, fromBinary, toBinary } from "@bufbuild/protobuf";
import type { DescMethod, DescService, MessageInitShape, MessageShape } from "@bufbuild/protobuf";
import type { GenService } from "@bufbuild/protobuf/codegenv2";
import * as grpc from "@grpc/grpc-js";
import { TaskControlService } from "../../gen/taskcontrol/v1/task_control_service_pb.js";

/** The methods of TaskControlService as gen/ describes them, by local (camelCase) name. */
type Methods = typeof TaskControlService extends GenService<infer M> ? M : never;
type Local = keyof Methods & string;
/** The local names of the methods of one kind. */
type OfKind<K extends string> = { [L in Local]: Methods[L]["methodKind"] extends K ? L : never }[Local];
type In<L extends Local> = MessageInitShape<Methods[L]["input"]>;
type Out<L extends Local> = MessageShape<Methods[L]["output"]>;
type UnionToIntersection<U> = (U extends unknown ? (x: U) => void : never) extends (x: infer I) => void ? I : never;
type Md = Record<string, string>;

/**
 * One overload per method, named as on the wire ("CreateTask"): the request must be that
 * method's request init shape, and a response type given explicitly
 * (`unary<CreateTaskResponse>("CreateTask", …)`) must be that method's response.
 */
type UnaryCall = UnionToIntersection<
  { [L in OfKind<"unary">]: <O extends Out<L> = Out<L>>(method: Capitalize<L>, request: In<L>, metadata?: Md) => Promise<O> }[OfKind<"unary">]
>;
type ServerStreamCall = UnionToIntersection<
  {
    [L in OfKind<"server_streaming">]: <O extends Out<L> = Out<L>>(
      method: Capitalize<L>,
      request: In<L>,
      metadata?: Md,
    ) => { responses: AsyncIterable<O>; call: grpc.ClientReadableStream<O> };
  }[OfKind<"server_streaming">]
>;
type ClientStreamCall = UnionToIntersection<
  {
    [L in OfKind<"client_streaming">]: <O extends Out<L> = Out<L>>(
      method: Capitalize<L>,
      requests: AsyncIterable<In<L>> | Iterable<In<L>>,
      metadata?: Md,
    ) => Promise<O>;
  }[OfKind<"client_streaming">]
>;

/** A promise-based @grpc/grpc-js client of TaskControlService, typed from gen/. */
export interface GrpcTestClient {
  unary: UnaryCall;
  serverStream: ServerStreamCall;
  clientStream: ClientStreamCall;
  /**
   * The same calls without the types, for tables that drive every RPC by name (the
   * security matrix, error details per method): a name not in the service throws.
   */
  readonly byName: {
    unary(method: string, request: object, metadata?: Md): Promise<unknown>;
    serverStream(method: string, request: object, metadata?: Md): { responses: AsyncIterable<unknown>; call: grpc.ClientReadableStream<unknown> };
    clientStream(method: string, requests: AsyncIterable<object> | Iterable<object>, metadata?: Md): Promise<unknown>;
  };
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
  const methods = new Map(service.methods.map((m) => [m.name, m] as const));
  const raw = new grpc.Client(address, options.credentials ?? grpc.credentials.createInsecure(), options.channelOptions);
  const path = (m: DescMethod) => `/${service.typeName}/${m.name}`;
  const ser = (m: DescMethod) => (v: object) => Buffer.from(toBinary(m.input, create(m.input, v as MessageInitShape<typeof m.input>)));
  const de = (m: DescMethod) => (b: Buffer) => fromBinary(m.output, b);
  const method = (name: string): DescMethod => {
    const m = methods.get(name);
    if (!m) throw new Error(`no method ${name}`);
    return m;
  };
  const md = (h?: Record<string, string>) => {
    const out = new grpc.Metadata();
    for (const [k, v] of Object.entries(h ?? {})) out.set(k, v);
    return out;
  };
  const byName: GrpcTestClient["byName"] = {
    unary: (name, request, metadata) => {
      const m = method(name);
      return new Promise((resolve, reject) =>
        raw.makeUnaryRequest(path(m), ser(m), de(m), request, md(metadata), (err, res) =>
          err ? reject(err) : resolve(res as never),
        ),
      );
    },
    serverStream: (name, request, metadata) => {
      const m = method(name);
      const call = raw.makeServerStreamRequest(path(m), ser(m), de(m), request, md(metadata));
      return { responses: call as unknown as AsyncIterable<never>, call: call as never };
    },
    clientStream: (name, requests, metadata) => {
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
  };
  return {
    byName,
    // The overloads only narrow what callers may pass; at run time every name goes the same way.
    unary: byName.unary as UnaryCall,
    serverStream: byName.serverStream as ServerStreamCall,
    clientStream: byName.clientStream as ClientStreamCall,
    raw,
    close: () => raw.close(),
  };
}
