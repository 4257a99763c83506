#!/bin/sh
# Regenerates the Python stubs of the taskcontrol.v1 contract (and google.rpc's error details)
# into the SDK package.
#
# The proto package `taskcontrol.v1` is emitted as the subpackage `taskcontrol.v1` of the
# SDK package `taskcontrol`, so the imports protoc writes (`from taskcontrol.v1 import ...`)
# resolve inside the SDK as they are: nothing is rewritten. Well-known types come from the
# installed protobuf runtime (python3-protobuf).
#
# Needs Debian's protobuf-compiler and protobuf-compiler-grpc. Deterministic: running it
# twice yields no diff. Run from anywhere: sh clients/python/generate.sh
set -eu

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
out="$here/taskcontrol/v1"
plugin=$(command -v grpc_python_plugin) || {
    echo "generate.sh: grpc_python_plugin not found (apt-get install protobuf-compiler-grpc)" >&2
    exit 1
}
command -v protoc >/dev/null || {
    echo "generate.sh: protoc not found (apt-get install protobuf-compiler)" >&2
    exit 1
}

rm -rf "$out"
mkdir -p "$out"
cd "$root/proto"
protoc -I . \
    --plugin=protoc-gen-grpc_python="$plugin" \
    --python_out="$here" \
    --pyi_out="$here" \
    --grpc_python_out="$here" \
    $(LC_ALL=C ls taskcontrol/v1/*.proto)
# The local copies of google.rpc's Status and error details (no grpc stubs): the SDK prefers
# googleapis-common-protos when installed, so two copies never meet in one descriptor pool.
rpc="$here/taskcontrol/rpc"
tmp=$(mktemp -d)
rm -rf "$rpc"
mkdir -p "$rpc"
protoc -I . --python_out="$tmp" --pyi_out="$tmp" google/rpc/status.proto google/rpc/error_details.proto
mv "$tmp"/google/rpc/* "$rpc"/
rm -rf "$tmp"
printf '"""Generated google.rpc Status and error details (by generate.sh)."""\n' > "$rpc/__init__.py"
printf '"""Generated protobuf and gRPC stubs of the taskcontrol.v1 contract (by generate.sh)."""\n' \
    > "$out/__init__.py"
