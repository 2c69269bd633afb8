"""The core install needs no torch: pipelines with ask_llm validate and the openai backend loads."""

from __future__ import annotations

import subprocess
import sys

from thresher_testing import python_path

_SCRIPT = r"""
import sys

class Block:
    def find_spec(self, name, path=None, target=None):
        if name.split(".")[0] in {"torch", "transformers", "vllm"}:
            raise ImportError(f"blocked: {name}", name=name)
        return None

sys.meta_path.insert(0, Block())
from thresher.api import Pipeline
from thresher.llm.backends.base import BackendError, TransformersParams, load_backend
from thresher.llm.answers import ScoreOptions
from thresher.llm.prompts import resolve_questions
from thresher.llm.truncation import Truncation

Pipeline.from_steps([{"type": "ask_llm", "backend": {"type": "transformers", "model": "/nowhere"},
                      "selection": {"mode": "top_fraction", "fraction": 0.3}}])
qs = resolve_questions(["quality"], {})
load_backend(__import__("thresher.llm.backends.base", fromlist=["x"]).OpenAIParams(
    base_url="http://127.0.0.1:9/v1", model="m"), qs, Truncation(), ScoreOptions()).close()
try:
    load_backend(TransformersParams(model="/nowhere"), qs, Truncation(), ScoreOptions())
except BackendError as err:
    print("ERR", err)
print("torch loaded:", "torch" in sys.modules)
"""


def test_ask_llm_validates_and_explains_without_torch():
    env = {"PYTHONPATH": python_path(), "PATH": "/usr/bin:/bin"}
    out = subprocess.run([sys.executable, "-c", _SCRIPT], capture_output=True, text=True, env=env, timeout=120)
    assert out.returncode == 0, out.stderr
    assert "ERR the transformers backend needs torch transformers" in out.stdout
    assert "pip install 'thresher[llm]'" in out.stdout
    assert "torch loaded: False" in out.stdout
