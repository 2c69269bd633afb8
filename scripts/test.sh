#!/usr/bin/env bash
# The project's test command: Rust core tests, then the Python suite against the installed package.
# Extra pytest arguments pass through, e.g. `bash scripts/test.sh -m shared_data`.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ -z "${THRESHER_SKIP_CARGO:-}" ]; then
  cargo test --workspace --exclude thresher-py --quiet
fi
set +e
python -m pytest "$@"
status=$?
set -e
# pytest exits 5 when it collected no test: that is a broken selection, not a pass.
if [ "$status" -eq 5 ]; then
  echo "pytest collected no tests" >&2
  exit 1
fi
exit "$status"
