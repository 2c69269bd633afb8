#!/usr/bin/env bash
# Installs the `bench` extra's requirements (datatrove with spaCy, rensa, ...) into an environment
# where Thresher is already installed, without building the package again: the agreement tests
# and the benchmarks compare against these peers.
set -euo pipefail
cd "$(dirname "$0")/.."
python - <<'PY' > "${TMPDIR:-/tmp}/thresher-bench-requirements.txt"
import tomllib

with open("pyproject.toml", "rb") as f:
    print("\n".join(tomllib.load(f)["project"]["optional-dependencies"]["bench"]))
PY
pip install --quiet -r "${TMPDIR:-/tmp}/thresher-bench-requirements.txt"
