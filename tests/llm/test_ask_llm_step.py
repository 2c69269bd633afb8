"""The ask_llm step in pipelines: signals, metadata, cache, resume, threshold / top-fraction / sampling."""

from __future__ import annotations

import math

import numpy as np
import pyarrow as pa
import pytest

from thresher.api import Pipeline
from thresher.config import ConfigError
from thresher.steps.ask_llm import AskLlm, AskLlmParams, gumbel_noise

TEXTS = [f"Document number {i}: " + "about plants and light. " * (i % 5 + 1) for i in range(24)]


def table(texts=TEXTS):
    return pa.table({"id": [str(i) for i in range(len(texts))], "text": texts})


def step_config(model, **overrides):
    config = {
        "type": "ask_llm",
        "backend": {"type": "transformers", "model": str(model)},
        "questions": ["quality", "educational"],
        "truncation": {"max_tokens": 32},
        "selection": {"mode": "none"},
    }
    config.update(overrides)
    return config


def make_step(model, **overrides):
    config = step_config(model, **overrides)
    config.pop("type")
    return AskLlm("ask_llm", AskLlmParams.model_validate(config))


def test_config_errors_name_the_key(tmp_path):
    with pytest.raises(ConfigError, match="fraction"):
        Pipeline.from_steps([step_config(tmp_path, selection={"mode": "top_fraction"})])
    with pytest.raises(ConfigError, match="unknown question"):
        Pipeline.from_steps([step_config(tmp_path, questions=["nope"])])
    with pytest.raises(ConfigError, match="min_p_yes"):
        Pipeline.from_steps([step_config(tmp_path, selection={"mode": "threshold"})])
    with pytest.raises(ConfigError, match="backend"):
        Pipeline.from_steps([{"type": "ask_llm", "backend": {"type": "nope", "model": "x"}}])


def test_own_templates_from_yaml_shape(tmp_path):
    params = AskLlmParams.model_validate(
        {
            "backend": {"type": "openai", "base_url": "http://127.0.0.1:1/v1", "model": "m"},
            "questions": ["mine", "quality"],
            "templates": {"mine": {"prompt": "###\n{document}\n###\nUseful? yes or no", "delimiters": ["###"]}},
            "selection": {"mode": "threshold", "min_p_yes": {"mine": 0.5, "quality": 0.1}},
        }
    )
    step = AskLlm("ask_llm", params)
    assert [q.name for q in step.questions] == ["mine", "quality"]
    assert [f.name for f in step.signal_fields()] == [
        "mine.log_p_yes",
        "mine.p_yes",
        "quality.log_p_yes",
        "quality.p_yes",
    ]
    assert step.reasons() == ["mine_p_yes_too_low", "quality_p_yes_too_low"]


def test_signals_threshold_and_metadata(tiny_causal):
    pytest.importorskip("torch")
    scored = Pipeline.from_steps([step_config(tiny_causal)]).run_table(table())
    p = np.array(scored.kept.column("ask_llm.quality.p_yes").to_pylist())
    log_p = np.array(scored.kept.column("ask_llm.quality.log_p_yes").to_pylist())
    assert np.allclose(np.exp(log_p), p) and np.all((p > 0) & (p < 1))
    meta = scored.kept.schema.field("ask_llm.quality.p_yes").metadata[b"thresher.ask_llm"]
    assert b"p_yes_full_vocabulary" in meta and b"single_token" in meta
    threshold = float(np.median(p))
    config = step_config(tiny_causal, selection={"mode": "threshold", "min_p_yes": threshold})
    result = Pipeline.from_steps([config]).run_table(table())
    assert result.kept.num_rows == int((p >= threshold).sum())
    assert set(result.rejected.column("drop_reason").to_pylist()) == {"ask_llm:quality_p_yes_too_low"}
    renorm = step_config(tiny_causal, score={"renormalize": True, "sum_variants": True})
    out = Pipeline.from_steps([renorm]).run_table(table())
    meta = out.kept.schema.field("ask_llm.quality.p_yes").metadata[b"thresher.ask_llm"]
    assert b"p_yes_over_yes_no" in meta and b"summed_variants" in meta
    assert np.all(np.array(out.kept.column("ask_llm.quality.p_yes").to_pylist()) > p.max())


def test_cache_avoids_rescoring_and_duplicates_are_scored_once(tiny_causal, tmp_path):
    pytest.importorskip("torch")
    cache = str(tmp_path / "scores.sqlite")
    texts = TEXTS[:6] + TEXTS[:6]
    step = make_step(tiny_causal, cache={"path": cache})
    first = step.compute_signals(pa.array(texts), table(texts).to_batches()[0])
    assert step.documents_scored == 6
    assert first.column("quality.p_yes").to_pylist()[:6] == first.column("quality.p_yes").to_pylist()[6:]
    step.close()
    again = make_step(tiny_causal, cache={"path": cache})
    second = again.compute_signals(pa.array(texts), table(texts).to_batches()[0])
    assert again.documents_scored == 0 and again._backend is None  # the model was never even loaded
    assert second.equals(first)
    # Another question over the same documents is a different cache scope.
    other = make_step(tiny_causal, questions=["math"], cache={"path": cache})
    other.compute_signals(pa.array(texts), table(texts).to_batches()[0])
    assert other.documents_scored == 6


def test_resume_after_a_crash_scores_only_what_is_left(tiny_causal, tmp_path):
    pytest.importorskip("torch")
    cache = str(tmp_path / "scores.sqlite")
    config = {"cache": {"path": cache}, "batch_documents": 4}
    step = make_step(tiny_causal, **config)
    real_score = step.backend.score
    calls = []

    def crash_on_third_batch(texts):
        calls.append(len(texts))
        if len(calls) == 3:
            raise RuntimeError("killed")
        return real_score(texts)

    step.backend.score = crash_on_third_batch
    with pytest.raises(RuntimeError, match="killed"):
        step.compute_signals(pa.array(TEXTS[:12]), table(TEXTS[:12]).to_batches()[0])
    step.close()
    resumed = make_step(tiny_causal, **config)
    out = resumed.compute_signals(pa.array(TEXTS[:12]), table(TEXTS[:12]).to_batches()[0])
    assert resumed.documents_scored == 4  # 8 were committed before the crash
    fresh = make_step(tiny_causal, cache={"enabled": False})
    expected = fresh.compute_signals(pa.array(TEXTS[:12]), table(TEXTS[:12]).to_batches()[0])
    np.testing.assert_allclose(
        out.column("quality.log_p_yes").to_numpy(), expected.column("quality.log_p_yes").to_numpy(), atol=1e-6
    )


def test_top_fraction_over_the_whole_input(tiny_causal):
    pytest.importorskip("torch")
    all_scores = Pipeline.from_steps([step_config(tiny_causal)]).run_table(table())
    p = np.array(all_scores.kept.column("ask_llm.educational.p_yes").to_pylist())
    config = step_config(tiny_causal, selection={"mode": "top_fraction", "fraction": 0.25, "question": "educational"})
    pipeline = Pipeline.from_steps([config])
    assert pipeline.has_global_steps
    result = pipeline.run_table(table())
    assert result.kept.num_rows == math.ceil(0.25 * len(TEXTS))
    kept = np.array(result.kept.column("ask_llm.educational.p_yes").to_pylist())
    np.testing.assert_allclose(np.sort(kept), np.sort(p)[-kept.size :], rtol=1e-6)
    assert set(result.rejected.column("drop_reason").to_pylist()) == {"ask_llm:below_top_fraction"}
    assert result.stats["output_rows"] + result.stats["dropped_rows"] == len(TEXTS)


def test_gumbel_sampling_keeps_k_deterministically(tiny_causal):
    pytest.importorskip("torch")
    config = step_config(tiny_causal, selection={"mode": "sample", "fraction": 0.5, "tau": 0.5, "seed": 3})
    first = Pipeline.from_steps([config]).run_table(table())
    second = Pipeline.from_steps([config]).run_table(table())
    assert first.kept.num_rows == 12
    assert sorted(first.kept.column("id").to_pylist()) == sorted(second.kept.column("id").to_pylist())
    other_seed = dict(config, selection={"mode": "sample", "fraction": 0.5, "tau": 0.5, "seed": 4})
    third = Pipeline.from_steps([other_seed]).run_table(table())
    assert sorted(first.kept.column("id").to_pylist()) != sorted(third.kept.column("id").to_pylist())


def test_gumbel_top_k_samples_in_proportion_to_exp_score_over_tau():
    # Two documents, keep one: P(first) = e^(s1/tau) / (e^(s1/tau) + e^(s2/tau)).
    s = np.log(np.array([0.75, 0.25]))
    for tau, expected in [(1.0, 0.75), (0.5, 0.9)]:
        wins = 0
        trials = 3000
        for seed in range(trials):
            noise = gumbel_noise(["first", "second"], seed)
            keys = s / tau + noise
            wins += keys[0] > keys[1]
        assert wins / trials == pytest.approx(expected, abs=0.03)


def test_global_selection_scores_each_row_once_without_a_cache(tiny_causal, monkeypatch):
    pytest.importorskip("torch")
    from thresher.llm.backends.transformers import TransformersBackend

    scored = []
    real = TransformersBackend.score

    def counting(self, texts):
        scored.extend(texts)
        return real(self, texts)

    monkeypatch.setattr(TransformersBackend, "score", counting)
    config = step_config(tiny_causal, cache={"enabled": False}, selection={"mode": "top_fraction", "fraction": 0.5})
    result = Pipeline.from_steps([config]).run_table(table())
    assert result.kept.num_rows == 12
    assert sorted(scored) == sorted(TEXTS)  # the map stage scored each row; the apply stage read them back
