"""Generated protobuf and gRPC stubs of the taskcontrol.v1 contract (by generate.sh)."""
