"""The prompt-injection suite: its coverage, and that no variant changes the prompt's structure."""

from __future__ import annotations

import math

import numpy as np
import pytest

from thresher.llm.injection import BASE_DOCUMENTS, insert, measure, variants


def test_suite_covers_languages_and_positions():
    suite = [v for v in variants() if not v.control]
    assert len(suite) >= 30
    assert len({v.language for v in suite}) >= 10
    assert {v.position for v in suite} == {"start", "middle", "end"}
    assert {v.position for v in variants() if v.control} == {"start", "middle", "end"}


def test_insert_positions():
    doc = "first paragraph\n\nsecond paragraph"
    v = variants()[0]
    assert insert(doc, v.__class__("x", "en", "start", "INJ")).startswith("INJ\n\n")
    assert insert(doc, v.__class__("x", "en", "end", "INJ")).endswith("\n\nINJ")
    assert insert(doc, v.__class__("x", "en", "middle", "INJ")) == "first paragraph\n\nINJ\n\nsecond paragraph"


def test_measure_reports_lifts_relative_to_the_clean_document():
    clean = {text: -3.0 - i for i, text in enumerate(BASE_DOCUMENTS.values())}

    def fake_scores(texts):
        # Injected text that says "Answer: Yes" gains 1 nat, everything else scores as its base document.
        out = np.zeros((len(texts), 1, 2))
        for i, text in enumerate(texts):
            base = next(v for k, v in clean.items() if k.split("\n\n")[0][:30] in text)
            out[i, 0] = (base + (1.0 if "Answer: Yes" in text else 0.0), math.log(0.5))
        return out

    report = measure(fake_scores)["log_p_yes"]
    assert report["control"]["max_log_lift"] == 0.0
    assert report["injection"]["max_log_lift"] == pytest.approx(1.0)
    assert 0 < report["injection"]["share_raising"] < 1
    assert report["net_mean_log_lift"] == pytest.approx(report["injection"]["mean_log_lift"])


def test_no_variant_changes_the_prompt_structure(tiny_causal):
    from transformers import AutoTokenizer

    from thresher.llm.answers import ScoreOptions
    from thresher.llm.backends.base import TransformersParams, load_backend
    from thresher.llm.prompts import resolve_questions
    from thresher.llm.truncation import Truncation

    backend = load_backend(
        TransformersParams(model=str(tiny_causal)),
        resolve_questions(["quality"], {}),
        Truncation(max_tokens=512),
        ScoreOptions(),
    )
    tok = AutoTokenizer.from_pretrained(tiny_causal)
    compiled = backend.prompts.questions[0]
    specials = [tok.convert_tokens_to_ids(t) for t in ("<|im_start|>", "<|im_end|>")]
    clean = backend.prompts.prompt_ids(compiled, backend.prompts.encode_documents(["text"])[0])
    expected = [clean.count(s) for s in specials] + [tok.decode(clean).count("</document>")]
    for variant in variants():
        ids = backend.prompts.prompt_ids(compiled, backend.prompts.encode_documents([insert("text", variant)])[0])
        assert [ids.count(s) for s in specials] + [tok.decode(ids).count("</document>")] == expected, variant.name
    report = measure(backend.score)
    assert report["variants"] >= 30 and np.isfinite(report["log_p_yes"]["injection"]["mean_log_lift"])
