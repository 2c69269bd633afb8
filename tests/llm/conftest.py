"""Fixtures: tiny random models built once per test session (skipped without torch)."""

from __future__ import annotations

import pytest


@pytest.fixture(scope="session")
def tiny_causal(tmp_path_factory):
    pytest.importorskip("torch")
    pytest.importorskip("transformers")
    from tiny_models import build_causal

    return build_causal(tmp_path_factory.mktemp("models") / "causal-chat")


@pytest.fixture(scope="session")
def tiny_causal_plain(tmp_path_factory):
    pytest.importorskip("torch")
    pytest.importorskip("transformers")
    from tiny_models import build_causal

    return build_causal(tmp_path_factory.mktemp("models") / "causal-plain", chat=False, seed=1)


@pytest.fixture(scope="session")
def tiny_seq2seq(tmp_path_factory):
    pytest.importorskip("torch")
    pytest.importorskip("transformers")
    from tiny_models import build_seq2seq

    return build_seq2seq(tmp_path_factory.mktemp("models") / "t5")
