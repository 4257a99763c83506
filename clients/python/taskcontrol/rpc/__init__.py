"""Generated google.rpc Status and error details (by generate.sh)."""
