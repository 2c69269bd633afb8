"""Token counters: characters/4, whitespace words, a local tiktoken file and a local HF tokenizer."""

from __future__ import annotations

import base64

import pyarrow as pa
import pytest
from pydantic import ValidationError

from thresher.tokens import TokenCounter, TokenizerConfig

TEXTS = pa.array(["one two  three", "", None, "héllo wörld"], pa.large_string())


def test_chars_per_token_and_whitespace():
    chars = TokenCounter(TokenizerConfig()).count(TEXTS)
    assert chars.tolist() == [14 / 4, 0.0, 0.0, 11 / 4]
    words = TokenCounter(TokenizerConfig(type="whitespace")).count(TEXTS)
    assert words.tolist() == [3.0, 0.0, 0.0, 2.0]
    assert TokenCounter(TokenizerConfig(chars_per_token=2)).count(TEXTS).tolist()[0] == 7.0


def test_files_are_required_and_never_fetched():
    with pytest.raises(ValidationError, match="local file"):
        TokenizerConfig(type="huggingface")
    with pytest.raises(ValidationError, match="encoding"):
        TokenizerConfig(type="tiktoken", path="x.tiktoken")


def test_huggingface_tokenizer_file(tmp_path):
    tokenizers = pytest.importorskip("tokenizers")
    vocab = {"[UNK]": 0, "one": 1, "two": 2, "three": 3}
    tok = tokenizers.Tokenizer(tokenizers.models.WordLevel(vocab, unk_token="[UNK]"))
    tok.pre_tokenizer = tokenizers.pre_tokenizers.Whitespace()
    tok.save(str(tmp_path / "tokenizer.json"))
    counter = TokenCounter(TokenizerConfig(type="huggingface", path=str(tmp_path / "tokenizer.json")))
    assert counter.count(TEXTS).tolist() == [3.0, 0.0, 0.0, 2.0]


def test_tiktoken_local_byte_level_file(tmp_path):
    pytest.importorskip("tiktoken")
    # 256 single-byte tokens and no merges: every byte is one token.
    lines = [f"{base64.b64encode(bytes([b])).decode()} {b}" for b in range(256)]
    (tmp_path / "bytes.tiktoken").write_text("\n".join(lines) + "\n")
    cfg = TokenizerConfig(type="tiktoken", path=str(tmp_path / "bytes.tiktoken"), encoding="cl100k_base", threads=1)
    counts = TokenCounter(cfg).count(TEXTS).tolist()
    assert counts == [14.0, 0.0, 0.0, float(len("héllo wörld".encode()))]
