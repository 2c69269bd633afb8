#!/usr/bin/env bash
# The Slurm test layer on a real cluster: installs Slurm from Debian's packages if missing
# (scripts/local-slurm.sh), starts a fresh single-node cluster in its own directory, runs
# tests/slurm against it, and always stops it again. Needs root on Linux.
#   bash scripts/slurm-ci.sh [pytest args...]
# Keeps the cluster's logs (DIR/log) when the tests fail, and says where.
set -euo pipefail
cd "$(dirname "$0")/.."
dir=$(mktemp -d "${TMPDIR:-/tmp}/thresher-slurm.XXXXXX")
status=1
cleanup() {
  bash scripts/local-slurm.sh stop "$dir" >/dev/null 2>&1 || true
  if [ "$status" -eq 0 ]; then
    rm -rf "$dir"
  else
    echo "slurm-ci: tests failed; cluster logs kept in $dir/log" >&2
  fi
}
trap cleanup EXIT
# More CPUs than the machine has only oversubscribes: array tasks then run side by side.
export LOCAL_SLURM_CPUS=${LOCAL_SLURM_CPUS:-4}
eval "$(bash scripts/local-slurm.sh start "$dir")"
export THRESHER_REQUIRE_SLURM=1
# A development build (scripts/dev-build.sh) wins over an installed package.
if compgen -G "python/thresher/_core*.so" >/dev/null; then
  export PYTHONPATH="$PWD/python${PYTHONPATH:+:$PYTHONPATH}"
fi
set +e
python -m pytest tests/slurm -m slurm "$@"
status=$?
set -e
exit "$status"
