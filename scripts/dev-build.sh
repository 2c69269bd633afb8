#!/usr/bin/env bash
# Rebuilds the Rust extension in place for development (python/thresher/_core.abi3.so), so an
# editable install or PYTHONPATH=python picks up Rust changes without reinstalling.
set -euo pipefail
cd "$(dirname "$0")/.."
profile="${1:-release}"
cargo build -p thresher-py --profile "$profile" --quiet
dir=$([ "$profile" = dev ] && echo debug || echo "$profile")
target="${CARGO_TARGET_DIR:-target}"
# Copy then rename: a Python process that has the old extension loaded keeps its (unlinked) file
# instead of seeing its code change under it.
cp -f "$target/$dir/lib_core.so" python/thresher/_core.abi3.so.tmp
mv -f python/thresher/_core.abi3.so.tmp python/thresher/_core.abi3.so
echo "built python/thresher/_core.abi3.so ($profile)"
