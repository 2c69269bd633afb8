"""Heuristic filter steps: from YAML and from Python on a pyarrow table; profiles; text rewriting."""

from __future__ import annotations

import pyarrow as pa
import pytest
import yaml

from thresher import _core
from thresher.api import Pipeline
from thresher.config import ConfigError, parse_pipeline
from thresher.stages import build_steps

GOOD = (
    "The history of the city goes back to the Roman period, and that is well documented.\n"
    "Archaeologists have found walls, roads and coins with inscriptions of the emperors.\n"
    "Later, the medieval town grew around the cathedral and the market square.\n"
    "Visitors can walk along the old walls and see the towers that remain today.\n"
    "Every summer a festival with music and theatre fills the streets of the old town."
)
LIST_PAGE = "\n".join(["Home", "About", "Contact", "Login", "Shop", "Cart"] * 3)


def table(*texts: str) -> pa.Table:
    return pa.table({"id": [f"d{i}" for i in range(len(texts))], "text": list(texts)})


def run(step: dict, *texts: str, profile: str = "datatrove"):
    return Pipeline.from_steps([step], profile=profile).run_table(table(*texts))


def reasons(result) -> dict[str, str]:
    if result.rejected.num_rows == 0:
        return {}
    return dict(zip(result.rejected["id"].to_pylist(), result.rejected["drop_reason"].to_pylist(), strict=True))


@pytest.mark.parametrize(
    "step_type", ["gopher_quality", "gopher_repetition", "c4_quality", "fineweb_quality", "refinedweb_lines"]
)
def test_steps_parse_from_yaml_and_run_on_a_table(step_type: str) -> None:
    doc = yaml.safe_load(
        f"""
        input: {{paths: [x.parquet]}}
        steps: [{{type: {step_type}}}]
        output: {{path: out}}
        """
    )
    config = parse_pipeline(doc, "test.yaml")
    (step,) = build_steps(config)
    assert step.type == step_type
    result = Pipeline(config).run_table(table(GOOD, LIST_PAGE, ""))
    assert result.kept.num_rows + result.rejected.num_rows == 3
    signal_names = {f"{step_type}.{f.name}" for f in step.signal_fields()}
    assert signal_names <= set(result.kept.column_names + result.rejected.column_names)


def test_gopher_quality_keeps_prose_and_names_the_rule() -> None:
    result = run({"type": "gopher_quality"}, GOOD, LIST_PAGE, "")
    assert result.kept["id"].to_pylist() == ["d0"]
    assert reasons(result) == {"d1": "gopher_quality:gopher_short_doc", "d2": "gopher_quality:gopher_short_doc"}


def test_thresholds_come_from_the_step_parameters() -> None:
    result = run({"type": "gopher_quality", "min_doc_words": 5}, LIST_PAGE)
    # 18 words pass the length rule; the page then fails on stop words.
    assert reasons(result) == {"d0": "gopher_quality:gopher_enough_stop_words"}
    with pytest.raises(ConfigError, match=r"steps\[0\]\.min_doc_wordz: unknown key"):
        Pipeline.from_steps([{"type": "gopher_quality", "min_doc_wordz": 5}])


def test_profile_changes_stop_word_counting() -> None:
    text = "the " * 60
    default = run({"type": "gopher_quality"}, text)
    assert default.rejected["gopher_quality.stop_words"].to_pylist() == [1]  # distinct
    older = run({"type": "gopher_quality"}, text, profile="fineweb-2024")
    assert older.kept["gopher_quality.stop_words"].to_pylist() == [60]  # occurrences: passes


def test_profile_changes_only_the_right_signals() -> None:
    doc = GOOD + "\n" + "\n".join(["Share this", "Share this", "Share this"])
    a = run({"type": "gopher_repetition"}, doc)
    b = run({"type": "gopher_repetition", "profile": "dclm"}, doc)
    # datatrove counts the 2 repeats of 8 lines (0.25: kept); DCLM all 3 occurrences (0.375: dropped).
    assert a.kept["gopher_repetition.dup_line_frac"].to_pylist() == [0.25]
    assert b.rejected["gopher_repetition.dup_line_frac"].to_pylist() == [0.375]
    assert reasons(b) == {"d0": "gopher_repetition:dup_line_frac"}
    assert a.kept["gopher_repetition.chars"] == b.rejected["gopher_repetition.chars"]


def test_pipeline_profile_is_the_default_and_a_step_can_override_it() -> None:
    doc = {
        "input": {"paths": ["x"]},
        "profile": "dolma",
        "steps": [{"type": "gopher_quality"}, {"type": "fineweb_quality", "profile": "fineweb-2024"}],
        "output": {"path": "o"},
    }
    config = parse_pipeline(doc)
    assert [s.params.profile for s in config.specs] == ["dolma", "fineweb-2024"]
    with pytest.raises(ConfigError, match="profile"):
        Pipeline.from_steps([{"type": "c4_quality", "profile": "nope"}])


def test_fineweb_2024_uses_inclusive_comparisons() -> None:
    # 3 lines, 1 short: short ratio 1/3; threshold exactly 1/3 drops only under fineweb-2024.
    text = "A line that is long enough to not be short at all.\nAnother line long enough to count as not short.\nshort"
    step = {"type": "fineweb_quality", "short_line_thr": 1 / 3, "line_punct_thr": 0.0, "new_line_ratio": None}
    assert run(step, text).kept.num_rows == 1
    assert reasons(run(step, text, profile="fineweb-2024")) == {"d0": "fineweb_quality:short_line_ratio"}


def test_c4_rewrites_text_and_can_keep_the_original() -> None:
    text = "\n".join(
        [
            "Menu",
            "The first sentence is here. The second one follows.",
            "Please enable JavaScript to see the comments.",
            "A third sentence appears. Then a fourth. And a fifth one ends it.",
        ]
    )
    result = run({"type": "c4_quality", "keep_original_text": True}, text)
    assert result.kept["text"].to_pylist() == [
        "The first sentence is here. The second one follows.\n"
        "A third sentence appears. Then a fourth. And a fifth one ends it."
    ]
    assert result.kept["c4_quality.text_modified"].to_pylist() == [1]
    assert result.kept["c4_quality.original_text"].to_pylist() == [text]
    assert result.kept["c4_quality.sentences"].to_pylist() == [5]
    # c4-original needs 5 words per line: "And a fifth one ends it." still has 6, the sentences stay 5.
    original = run({"type": "c4_quality"}, text, profile="c4-original")
    assert original.kept.num_rows == 1


def test_c4_dropped_rows_keep_their_text() -> None:
    text = "Lorem ipsum dolor sit amet, consectetur adipiscing elit."
    result = run({"type": "c4_quality"}, text)
    assert reasons(result) == {"d0": "c4_quality:lorem_ipsum"}
    assert result.rejected["text"].to_pylist() == [text]


def test_refinedweb_lines_rewrites_and_drops_on_removed_words() -> None:
    text = GOOD + "\n12 likes\nSHARE THIS PAGE NOW"
    result = run({"type": "refinedweb_lines", "max_removed_word_ratio": 0.2}, text)
    assert result.kept["text"].to_pylist() == [GOOD]
    strict = run({"type": "refinedweb_lines", "max_removed_word_ratio": 0.01}, text)
    assert reasons(strict) == {"d0": "refinedweb_lines:too_many_words_removed"}


def test_null_texts_give_null_signals() -> None:
    signals = _core.gopher_quality_signals(pa.array(["a b", None]), "datatrove", "spacy_en", ["the"])
    assert signals.column("word_count").to_pylist() == [2, None]


def test_word_splitters() -> None:
    words = _core.split_words(pa.array(["Don't stop, Mr. Smith!"]), "spacy_en").to_pylist()[0]
    assert words == ["Do", "n't", "stop", ",", "Mr.", "Smith", "!"]
    assert _core.split_words(pa.array(["日本語"]), "uax29").to_pylist()[0] == ["日", "本", "語"]
    with pytest.raises(ValueError, match="unknown word splitter"):
        _core.split_words(pa.array(["x"]), "nope")


def test_other_languages_take_stop_words_from_stopwordsiso() -> None:
    pytest.importorskip("stopwordsiso")
    text = "Die Stadt hat eine lange Geschichte und die Altstadt ist sehr schön. " * 10
    result = run({"type": "gopher_quality", "language": "de"}, text)
    assert result.kept.num_rows == 1
    assert result.kept["gopher_quality.stop_words"][0].as_py() >= 2


def test_fineweb_line_punct_exclude_zero() -> None:
    text = "\n".join(f"navigation entry number {i} without any end mark" for i in range(5))
    assert reasons(run({"type": "fineweb_quality"}, text)) == {"d0": "fineweb_quality:line_punct_ratio"}
    kept = run({"type": "fineweb_quality", "line_punct_exclude_zero": True}, text)
    assert kept.kept.num_rows == 1
    assert kept.kept["fineweb_quality.line_punct_ratio"].to_pylist() == [0.0]


def test_steps_of_one_chain_share_word_splits_without_changing_results() -> None:
    """Gopher repetition, Gopher quality and FineWeb split words once per document in a chain: the
    signals equal those of each step run alone, and the memo is gone after the batch."""
    chain = [{"type": "gopher_repetition"}, {"type": "gopher_quality"}, {"type": "fineweb_quality"}]
    texts = [GOOD, LIST_PAGE, GOOD.replace("\n", " "), "Don't stop -- it's 3.5km, Mr. Smith!\n" * 3]
    shared = Pipeline.from_steps(chain).run_table(table(*texts))
    kept_and_dropped = pa.concat_tables(
        [shared.kept.select(["id"]), shared.rejected.select(["id"])], promote_options="none"
    )
    assert sorted(kept_and_dropped["id"].to_pylist()) == [f"d{i}" for i in range(len(texts))]
    for step in chain:
        alone = Pipeline.from_steps([step]).run_table(table(*texts))
        rows = {r["id"]: r for r in alone.kept.to_pylist() + alone.rejected.to_pylist()}
        for row in shared.kept.to_pylist() + shared.rejected.to_pylist():
            for name, value in row.items():
                if name.startswith(step["type"] + ".") and name in rows[row["id"]]:
                    assert rows[row["id"]][name] == value, (row["id"], name)


def test_word_memo_returns_the_same_words_for_the_same_text() -> None:
    memo = _core.WordMemo()
    texts = pa.array([GOOD, LIST_PAGE, None, ""], pa.large_string())
    first = _core.gopher_repetition_signals(texts, "datatrove", "spacy_en", word_memo=memo)
    assert len(memo) == 3  # every non-null text
    again = _core.gopher_repetition_signals(texts.slice(0, 2), "datatrove", "spacy_en", word_memo=memo)
    assert again.equals(first.slice(0, 2))
    assert len(memo) == 3


def test_fineweb_after_c4_sees_the_rewritten_text_through_the_memo() -> None:
    """C4 passes the words of a document on to its rewritten text; FineWeb's signals must equal those
    computed on that rewritten text with no memo at all."""
    messy = GOOD + "\nUse javascript to see this.\nok\nThe last line [1] has a citation in it, see.\n"
    texts = [messy, GOOD, messy.replace("\n", "\n\n")]
    c4 = {"type": "c4_quality", "filter_no_terminal_punct": False, "min_num_sentences": 1}
    fineweb = {"type": "fineweb_quality", "line_punct_thr": None, "char_duplicates_ratio": None}
    chained = Pipeline.from_steps([{"type": "gopher_repetition", "max_dup_line_frac": None}, c4, fineweb])
    result = chained.run_table(table(*texts))
    assert result.kept.num_rows == 3
    rewritten = Pipeline.from_steps([c4]).run_table(table(*texts)).kept.select(["id", "text"])
    alone = Pipeline.from_steps([fineweb]).run_table(rewritten).kept
    assert result.kept["text"].to_pylist() == alone["text"].to_pylist()
    assert result.kept["c4_quality.text_modified"].to_pylist() == [1, 0, 1]
    for name in ["non_empty_lines", "line_punct_ratio", "short_line_ratio", "char_dup_ratio", "list_ratio"]:
        column = f"fineweb_quality.{name}"
        assert result.kept[column].to_pylist() == alone[column].to_pylist(), name
