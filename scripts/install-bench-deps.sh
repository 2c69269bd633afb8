#!/usr/bin/env bash
# Installs the `bench` extra's requirements (datatrove with spaCy, rensa, ...) into an environment
# where Thresher is already installed, without building the package again: the agreement tests
# and the benchmarks compare against these peers.
set -euo pipefail
cd "$(dirname "$0")/.."
requirements=$(mktemp)
trap 'rm -f "$requirements"' EXIT
python - > "$requirements" <<'PY'
import tomllib

with open("pyproject.toml", "rb") as f:
    print("\n".join(tomllib.load(f)["project"]["optional-dependencies"]["bench"]))
PY
pip install --quiet -r "$requirements"
