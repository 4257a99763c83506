import { create, type DescFile, toBinary } from "@bufbuild/protobuf";
import {
  FieldDescriptorProto_Label,
  FieldDescriptorProto_Type,
  type FileDescriptorProto,
  FileDescriptorProtoSchema,
} from "@bufbuild/protobuf/wkt";
import type * as grpc from "@grpc/grpc-js";
import { ReflectionService } from "@grpc/reflection";
import { cappedServer, type StreamCap } from "./stream-cap.js";

/**
 * grpc.health.v1's health.proto as a descriptor: grpc-health-check ships only the .proto
 * source, and reflection must describe Health too for `grpcurl … grpc.health.v1.Health/Check`.
 */
const HEALTH_FILE: FileDescriptorProto = (() => {
  const { OPTIONAL, REPEATED } = FieldDescriptorProto_Label;
  const { STRING: TYPE_STRING, ENUM: TYPE_ENUM, MESSAGE: TYPE_MESSAGE } = FieldDescriptorProto_Type;
  const status = ".grpc.health.v1.HealthCheckResponse";
  return create(FileDescriptorProtoSchema, {
    name: "grpc/health/v1/health.proto",
    package: "grpc.health.v1",
    syntax: "proto3",
    messageType: [
      { name: "HealthCheckRequest", field: [{ name: "service", number: 1, label: OPTIONAL, type: TYPE_STRING, jsonName: "service" }] },
      {
        name: "HealthCheckResponse",
        field: [
          { name: "status", number: 1, label: OPTIONAL, type: TYPE_ENUM, typeName: `${status}.ServingStatus`, jsonName: "status" },
        ],
        enumType: [
          {
            name: "ServingStatus",
            value: [
              { name: "UNKNOWN", number: 0 },
              { name: "SERVING", number: 1 },
              { name: "NOT_SERVING", number: 2 },
              { name: "SERVICE_UNKNOWN", number: 3 },
            ],
          },
        ],
      },
      { name: "HealthListRequest" },
      {
        name: "HealthListResponse",
        field: [
          {
            name: "statuses",
            number: 1,
            label: REPEATED,
            type: TYPE_MESSAGE,
            typeName: ".grpc.health.v1.HealthListResponse.StatusesEntry",
            jsonName: "statuses",
          },
        ],
        nestedType: [
          {
            name: "StatusesEntry",
            field: [
              { name: "key", number: 1, label: OPTIONAL, type: TYPE_STRING, jsonName: "key" },
              { name: "value", number: 2, label: OPTIONAL, type: TYPE_MESSAGE, typeName: status, jsonName: "value" },
            ],
            options: { mapEntry: true },
          },
        ],
      },
    ],
    service: [
      {
        name: "Health",
        method: [
          { name: "Check", inputType: ".grpc.health.v1.HealthCheckRequest", outputType: status },
          { name: "Watch", inputType: ".grpc.health.v1.HealthCheckRequest", outputType: status, serverStreaming: true },
          { name: "List", inputType: ".grpc.health.v1.HealthListRequest", outputType: ".grpc.health.v1.HealthListResponse" },
        ],
      },
    ],
  });
})();

/** The files of `roots` and everything they import, dependencies first, each once. */
function withDependencies(roots: readonly DescFile[]): FileDescriptorProto[] {
  const seen = new Set<string>();
  const out: FileDescriptorProto[] = [];
  const visit = (f: DescFile) => {
    if (seen.has(f.proto.name)) return;
    seen.add(f.proto.name);
    f.dependencies.forEach(visit);
    out.push(f.proto);
  };
  roots.forEach(visit);
  return out;
}

/**
 * Adds grpc.reflection.v1 and v1alpha to the gRPC listener, so grpcurl, grpcui and Postman
 * work without the .proto files. @grpc/reflection reads only `fileDescriptorProtos` of a
 * proto-loader package definition, so the generated descriptors are handed over that way
 * instead of re-parsing .proto sources at startup. Its streams need no token: `cap` bounds them.
 */
export function addReflection(server: grpc.Server, roots: readonly DescFile[], cap?: StreamCap): void {
  const files = [...withDependencies(roots), HEALTH_FILE].map((f) => Buffer.from(toBinary(FileDescriptorProtoSchema, f)));
  const definition = { "taskcontrol.descriptors": { fileDescriptorProtos: files } };
  new ReflectionService(definition as unknown as ConstructorParameters<typeof ReflectionService>[0]).addToServer(cappedServer(server, cap) as grpc.Server);
}
