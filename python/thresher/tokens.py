"""Token counters: how many tokens each document of a text column has.

`chars_per_token` (characters / 4 is UniMax's own convention), `whitespace` words, `tiktoken`
(a local BPE file) and `huggingface` (a local `tokenizer.json`). Nothing is downloaded: tokenizer
files must already be on disk.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pydantic import BaseModel, ConfigDict, Field, model_validator


class TokenizerConfig(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_default=True)

    type: Literal["chars_per_token", "whitespace", "tiktoken", "huggingface"] = "chars_per_token"
    chars_per_token: float = Field(4.0, gt=0, description="For type chars_per_token: characters per token")
    path: str | None = Field(
        None, description="tiktoken: a local .tiktoken BPE file; huggingface: a local tokenizer.json"
    )
    encoding: str | None = Field(
        None, description="tiktoken: the encoding whose split pattern and special tokens to use (cl100k_base, ...)"
    )
    threads: int = Field(0, ge=0, description="tiktoken/huggingface threads; 0 = all cores")

    @model_validator(mode="after")
    def _needs_a_file(self) -> TokenizerConfig:
        if self.type in ("tiktoken", "huggingface") and not self.path:
            raise ValueError(f"tokenizer type {self.type} needs `path` to a local file (nothing is downloaded)")
        if self.type == "tiktoken" and not self.encoding:
            raise ValueError("tokenizer type tiktoken needs `encoding` (e.g. cl100k_base) for its split pattern")
        return self

    def describe(self) -> str:
        if self.type == "chars_per_token":
            return f"characters / {self.chars_per_token:g}"
        if self.type == "whitespace":
            return "whitespace-separated words"
        return f"{self.type} {self.encoding or ''} {self.path}".replace("  ", " ")


class TokenCounter:
    """Counts tokens of every row of a string array; returns float64 (chars/N is fractional)."""

    def __init__(self, config: TokenizerConfig) -> None:
        self.config = config
        self._encoder = None

    def count(self, text: pa.Array) -> np.ndarray:
        cfg = self.config
        if cfg.type == "chars_per_token":
            chars = pc.fill_null(pc.utf8_length(text), 0).to_numpy(zero_copy_only=False)
            return chars.astype(np.float64) / cfg.chars_per_token
        if cfg.type == "whitespace":
            from thresher import _core

            words = _core.text_length_signals(text).column("words")
            return pc.fill_null(words, 0).to_numpy(zero_copy_only=False).astype(np.float64)
        texts = [t if t is not None else "" for t in text.to_pylist()]
        threads = cfg.threads or os.cpu_count() or 1
        if cfg.type == "tiktoken":
            encoder = self._tiktoken()
            encoded = encoder.encode_ordinary_batch(texts, num_threads=threads)
            return np.fromiter((len(e) for e in encoded), dtype=np.float64, count=len(encoded))
        encoder = self._huggingface()
        encoded = encoder.encode_batch(texts, add_special_tokens=False)
        return np.fromiter((len(e.ids) for e in encoded), dtype=np.float64, count=len(encoded))

    def _tiktoken(self):
        if self._encoder is None:
            self._encoder = load_tiktoken(Path(self.config.path), self.config.encoding)
        return self._encoder

    def _huggingface(self):
        if self._encoder is None:
            from tokenizers import Tokenizer

            path = Path(self.config.path)
            if not path.is_file():
                raise FileNotFoundError(f"huggingface tokenizer file {path} does not exist")
            self._encoder = Tokenizer.from_file(str(path))
        return self._encoder


def load_tiktoken(path: Path, encoding: str):
    """A tiktoken Encoding from a local BPE file, with the split pattern of the named encoding.

    tiktoken's own constructors fetch their BPE files by URL; here the named encoding only lends
    its pattern and special tokens, and the ranks come from `path`.
    """
    import tiktoken
    import tiktoken.load
    import tiktoken_ext.openai_public as public

    if not path.is_file():
        raise FileNotFoundError(f"tiktoken BPE file {path} does not exist")
    constructor = public.ENCODING_CONSTRUCTORS.get(encoding)
    if constructor is None:
        raise ValueError(f"unknown tiktoken encoding {encoding!r}; known: {sorted(public.ENCODING_CONSTRUCTORS)}")
    ranks = tiktoken.load.load_tiktoken_bpe(str(path))
    original = public.load_tiktoken_bpe
    public.load_tiktoken_bpe = lambda *args, **kwargs: ranks
    try:
        spec = constructor()
    finally:
        public.load_tiktoken_bpe = original
    # Special tokens whose ids collide with the local file's ranks are left out.
    special = {tok: i for tok, i in spec["special_tokens"].items() if i >= len(ranks)}
    return tiktoken.Encoding(
        name=f"{spec['name']}@{path.name}",
        pat_str=spec["pat_str"],
        mergeable_ranks=ranks,
        special_tokens=special,
    )
