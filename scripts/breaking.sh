#!/bin/sh
# buf breaking against a git ref: `npm run breaking -- REF` (any ref or commit), or with no
# argument against both the commit that introduced the contract and the previous commit
# (what CI runs). The v1 contract changes additively only.
set -eu
cd "$(dirname "$0")/.."
check() {
  echo "buf breaking against $1"
  npx buf breaking --against ".git#ref=$1"
}
if [ $# -gt 0 ]; then
  check "$(git rev-parse --verify "$1^{commit}")"
  exit 0
fi
first=$(git log --diff-filter=A --format=%H -- proto/taskcontrol/v1/task_control_service.proto | tail -n1)
if [ -z "$first" ]; then
  echo "cannot find the commit that introduced the contract (shallow clone?): buf breaking needs history" >&2
  exit 1
fi
check "$first"
if git rev-parse -q --verify HEAD~1 >/dev/null; then check "$(git rev-parse HEAD~1)"; fi
