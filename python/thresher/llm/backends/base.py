"""One interface for every inference backend.

A backend is built with the questions, the truncation rule and the scoring options, and then
scores lists of documents:

    scores = backend.score(texts)      # float64 array (documents, questions, 2)
    scores[..., 0] = log p(yes)  scores[..., 1] = log p(no)   (variants summed when asked)

`model_id` names the model (and what else changes its scores) for the cache. Backend
parameters live here, free of heavy imports, so pipelines validate without torch or vLLM; each
backend's module is imported only when it is built.
"""

from __future__ import annotations

import hashlib
import importlib
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Annotated, Any, Literal

import numpy as np
from pydantic import BaseModel, ConfigDict, Field

from thresher.llm.answers import ScoreOptions
from thresher.llm.prompts import Question
from thresher.llm.truncation import Truncation


class BackendError(RuntimeError):
    """A backend cannot score: unreachable server, missing logprobs, unusable model folder."""


class _Params(BaseModel):
    model_config = ConfigDict(extra="forbid", protected_namespaces=())


class TransformersParams(_Params):
    type: Literal["transformers"] = "transformers"
    model: str = Field(description="Local Hugging Face model folder (causal LM or seq2seq); never downloaded")
    device: str = Field("auto", description="auto (cuda when available), cpu, cuda, cuda:1, ...")
    dtype: Literal["auto", "bfloat16", "float16", "float32"] = Field(
        "auto", description="auto: bfloat16 on GPU, float32 on CPU"
    )
    batch_tokens: int = Field(16384, ge=64, description="Padded tokens per forward pass")
    max_batch_rows: int = Field(64, ge=1)
    chat: Literal["auto", "always", "never"] = Field("auto", description="Use the tokenizer's chat template")
    attn_implementation: str | None = Field(None, description="e.g. sdpa, flash_attention_2; library default if unset")
    share_prefix: bool = Field(
        True, description="Compute prompt prefix + document once for all questions (decoder-only models)"
    )
    threads: int | None = Field(None, ge=1, description="torch CPU threads; torch's default if unset")


class VllmParams(_Params):
    type: Literal["vllm"] = "vllm"
    model: str = Field(description="Local model folder")
    dtype: str = "auto"
    top_logprobs: int = Field(20, ge=1, description="Logprobs returned per prompt; the answer must be among them")
    gpu_memory_utilization: float = Field(0.85, gt=0, le=1)
    max_model_len: int | None = None
    tensor_parallel_size: int = Field(1, ge=1)
    chat: Literal["auto", "always", "never"] = "auto"
    engine_args: dict[str, Any] = Field(default_factory=dict, description="Passed to vllm.LLM as is")


class OpenAIParams(_Params):
    type: Literal["openai"] = "openai"
    base_url: str = Field(description="Server root, e.g. http://127.0.0.1:8000/v1")
    model: str = Field(description="Model name the server knows")
    api: Literal["chat", "completions"] = "chat"
    api_key_env: str | None = Field("OPENAI_API_KEY", description="Environment variable holding the key, if any")
    tokenizer: str | None = Field(
        None, description="Local tokenizer folder: token-exact truncation (and chat rendering for completions)"
    )
    top_logprobs: int = Field(20, ge=1, description="Top logprobs asked for (OpenAI allows at most 20)")
    concurrency: int = Field(8, ge=1, description="Requests in flight at once")
    timeout_s: float = Field(120.0, gt=0, description="Per request")
    max_retries: int = Field(6, ge=0, description="Retries after timeouts, connection errors, 429 and 5xx")
    backoff_s: float = Field(0.5, ge=0, description="First retry delay; doubles each retry, with jitter")
    max_backoff_s: float = Field(30.0, ge=0)


BackendParams = Annotated[TransformersParams | VllmParams | OpenAIParams, Field(discriminator="type")]

_MODULES = {
    "transformers": ("thresher.llm.backends.transformers", "TransformersBackend", "torch transformers"),
    "vllm": ("thresher.llm.backends.vllm", "VllmBackend", "vllm"),
    "openai": ("thresher.llm.backends.openai", "OpenAIBackend", None),
}


class Backend(ABC):
    def __init__(self, params: Any, questions: list[Question], truncation: Truncation, options: ScoreOptions) -> None:
        self.params = params
        self.questions = questions
        self.truncation = truncation
        self.options = options
        self.tokens_scored = 0  # prompt tokens sent through the model (for throughput reports)
        self.answers_outside_top = 0  # top-k backends: answers bounded rather than read

    @property
    @abstractmethod
    def model_id(self) -> str:
        """What identifies the scores this backend gives (model, weights, tokenizer, precision)."""

    @abstractmethod
    def score(self, texts: list[str]) -> np.ndarray:
        """(len(texts), len(questions), 2) float64: log p(yes), log p(no) per question."""

    def close(self) -> None:  # noqa: B027 - an optional hook; backends without resources keep it
        """Frees the model (GPU memory, server connections)."""


def load_backend(
    params: TransformersParams | VllmParams | OpenAIParams,
    questions: list[Question],
    truncation: Truncation,
    options: ScoreOptions,
) -> Backend:
    module_name, class_name, extra_modules = _MODULES[params.type]
    try:
        module = importlib.import_module(module_name)
    except ImportError as err:
        hint = "pip install 'thresher[vllm]'" if params.type == "vllm" else "pip install 'thresher[llm]'"
        raise BackendError(
            f"the {params.type} backend needs {extra_modules} ({err.name} is not installed): {hint}"
        ) from err
    return getattr(module, class_name)(params, questions, truncation, options)


def model_fingerprint(path: Path, extra: str = "") -> str:
    """Config, tokenizer files and a sample of each weight file: changes when the model does,
    without reading gigabytes of weights."""
    digest = hashlib.sha256(extra.encode())
    for file in sorted(path.iterdir()):
        if not file.is_file():
            continue
        digest.update(file.name.encode())
        size = file.stat().st_size
        digest.update(str(size).encode())
        with file.open("rb") as handle:
            if size <= 4 << 20:
                digest.update(handle.read())
            else:
                digest.update(handle.read(1 << 20))
                handle.seek(size - (1 << 20))
                digest.update(handle.read())
    return digest.hexdigest()[:16]


def resolved_dtype(params: TransformersParams) -> str:
    if params.dtype != "auto":
        return params.dtype
    import torch

    cuda = params.device.startswith("cuda") or (params.device == "auto" and torch.cuda.is_available())
    return "bfloat16" if cuda and torch.cuda.is_bf16_supported() else "float32"


def model_identity(params: TransformersParams | VllmParams | OpenAIParams) -> str:
    """What names a backend's scores in the cache, computed without loading the model: the model
    folder's fingerprint (or the server and model name) and the numeric precision."""
    if isinstance(params, OpenAIParams):
        return f"openai:{params.base_url.rstrip('/')}:{params.model}"
    path = Path(params.model).expanduser()
    if not (path / "config.json").is_file():
        raise BackendError(f"{params.model}: not a local model folder (no config.json); models are never downloaded")
    dtype = resolved_dtype(params) if isinstance(params, TransformersParams) else params.dtype
    return f"{params.type}:{path.name}:{model_fingerprint(path)}:{dtype}"


# Parameters that change how fast scores come, not what they are: left out of cache keys.
RUNTIME_ONLY = {
    "device",
    "batch_tokens",
    "max_batch_rows",
    "attn_implementation",
    "share_prefix",
    "threads",
    "gpu_memory_utilization",
    "tensor_parallel_size",
    "engine_args",
    "max_model_len",
    "concurrency",
    "timeout_s",
    "max_retries",
    "backoff_s",
    "max_backoff_s",
    "api_key_env",
    "base_url",
    "model",
}
