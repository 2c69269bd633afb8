"""Fuzzing through the Python bindings with hypothesis: every `_core` function that takes text, on
generated batches in every Arrow layout (string, large_string, string_view, sliced, binary), must not
raise and must return one row per document with values that agree with Python's own view of the text.

A new binding must be added to TEXT_BINDINGS / BINARY_BINDINGS (one line) or to NOT_TEXT: the first test
fails until it is, so nothing that takes text escapes the fuzzer. More examples:
`THRESHER_FUZZ_EXAMPLES=20000 pytest tests/fuzz`; the long run is `python benchmarks/fuzz.py --full`.
"""

from __future__ import annotations

import os
from collections.abc import Callable

import pyarrow as pa
import pyarrow.compute as pc
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from thresher import _core

EXAMPLES = int(os.environ.get("THRESHER_FUZZ_EXAMPLES", "150"))


def _rows(result) -> int:
    if isinstance(result, tuple):
        lengths = {len(part) for part in result}
        assert len(lengths) == 1, f"parts of different lengths: {lengths}"
        return lengths.pop()
    return result.num_rows if isinstance(result, pa.RecordBatch) else len(result)


_NOT_UNICODE_WHITESPACE = str.maketrans({c: "x" for c in "\x1c\x1d\x1e\x1f"})


def _unicode_words(text: str) -> int:
    """Runs of non-whitespace under Unicode's White_Space property: Python's str.split also splits
    on the ASCII separators U+001C..U+001F, which are not white space."""
    return len(text.translate(_NOT_UNICODE_WHITESPACE).split())


def _check_text_length(texts: list[str | None], out: pa.RecordBatch) -> None:
    rows = out.to_pylist()
    for text, row in zip(texts, rows, strict=True):
        if text is None:
            assert all(v is None for v in row.values())
            continue
        assert row["chars"] == len(text)
        assert row["bytes"] == len(text.encode())
        assert row["words"] == _unicode_words(text)
        assert row["max_line_chars"] <= row["chars"]
        assert row["non_empty_lines"] <= row["lines"]


def _check_char_classes(texts: list[str | None], out: pa.RecordBatch) -> None:
    for text, row in zip(texts, out.to_pylist(), strict=True):
        if text is None:
            continue
        for name, value in row.items():
            assert value is None or 0.0 <= value <= 1.0, (name, value)


def _check_byte_lengths(texts: list[str | None], out) -> None:
    assert pa.array(out).to_pylist() == [None if t is None else len(t.encode()) for t in texts]


def _through_step(step_type: str) -> Callable:
    """A heuristic binding called as its step calls it, with the step's default parameters."""
    from thresher.steps.registry import get_step_class

    cls = get_step_class(step_type)
    step = cls(step_type, cls.Params())
    return lambda a: step.compute_signals(a, None)


def _heuristic_run(a: pa.Array) -> pa.Array:
    """Every heuristic family as one HeuristicChain call (the fused run), default parameters."""
    from thresher.chain import HeuristicRun
    from thresher.steps.registry import get_step_class

    kinds = ["refinedweb_lines", "gopher_repetition", "gopher_quality", "c4_quality", "fineweb_quality"]
    steps = [get_step_class(kind)(kind, get_step_class(kind).Params()) for kind in kinds]
    signals, dropped_step, dropped_rule, text = HeuristicRun(steps).chain().run(a)
    assert [b.num_rows for b in signals] == [len(a)] * len(kinds)
    assert len(dropped_rule) == len(a) and (text is None or len(text) == len(a))
    return dropped_step


def _with_shared_memo(a: pa.Array) -> pa.RecordBatch:
    """Repetition then quality through one word memo: the second call reads the first one's splits."""
    memo = _core.WordMemo()
    _core.gopher_repetition_signals(a, "datatrove", "spacy_en", word_memo=memo)
    shared = _core.gopher_quality_signals(a, "datatrove", "spacy_en", ["the", "and"], word_memo=memo)
    assert shared.equals(_core.gopher_quality_signals(a, "datatrove", "spacy_en", ["the", "and"]))
    return shared


# name -> (call, check of the output against the input texts). One line per entry point.
TEXT_BINDINGS: dict[str, tuple[Callable, Callable | None]] = {
    "text_length_signals": (_core.text_length_signals, _check_text_length),
    "char_class_signals": (_core.char_class_signals, _check_char_classes),
    "text_byte_lengths": (_core.text_byte_lengths, _check_byte_lengths),
    "sequential_ids": (lambda a: _core.sequential_ids(a[0].as_py() or "" if len(a) else "", 0, len(a)), None),
    "normalize_text": (lambda a: _core.normalize_text(a, "minhash"), None),
    "ngram_normalize": (_core.ngram_normalize, None),
    "line_normalize": (_core.line_normalize, None),
    "script_signals": (_core.script_signals, None),
    "gopher_quality_signals": (_through_step("gopher_quality"), None),
    "gopher_repetition_signals": (_through_step("gopher_repetition"), None),
    "c4_quality_signals": (_through_step("c4_quality"), None),
    "fineweb_quality_signals": (_through_step("fineweb_quality"), None),
    "refinedweb_line_signals": (_through_step("refinedweb_lines"), None),
    "split_words": (lambda a: _core.split_words(a, "spacy_en"), None),
    "word_memo": (_with_shared_memo, None),
    "heuristic_chain": (_heuristic_run, None),
    "count_sentences": (_core.count_sentences, None),
    "line_hash": (_core.line_hash, None),
    # Hashes of all documents come back concatenated: fuzz it one document at a time.
    "line_hashes": (lambda a: pa.array([len(_core.line_hashes(a.slice(i, 1))) for i in range(len(a))]), None),
}
BINARY_BINDINGS: dict[str, Callable] = {
    "decode_utf8": _core.decode_utf8,
}
# Work on files or hash records, or (line_dedup_apply) take text with per-row side inputs that the
# step's own tests cover; MinHasher/ExactMapper and the n-gram index's scan are fuzzed in Rust.
NOT_TEXT = {
    "_panic_for_test",
    "cluster_pairs",
    "exact_reduce_bucket",
    "minhash_find_pairs",
    "ngram_index_build",
    "shard_dup_verdicts",
    "line_dedup_apply",
}


def test_every_binding_is_fuzzed_or_declared_not_text():
    public = {n for n in dir(_core) if callable(getattr(_core, n)) and not n[0].isupper() and not n.startswith("__")}
    missing = public - set(TEXT_BINDINGS) - set(BINARY_BINDINGS) - NOT_TEXT
    assert not missing, f"add these bindings to the fuzzer: {sorted(missing)}"


# Text that tends to break scanners, mixed with anything hypothesis can draw (no lone surrogates,
# which Python strings allow and UTF-8 cannot hold).
AWKWARD = [
    "\n",
    "\r",
    "\r\n",
    " ",
    "\t",
    "\xa0",
    "\u2028",
    "\u3000",
    "\u200b",
    "\ufeff",
    "\u0301",
    "\u202e",
    "\U0001f600",
    "\U0010ffff",
    "\x00",
    "a",
    "Z",
    "9",
    ".",
    "é",
    "ß",
    "İ",
    "日本",
    "\ufffd",
]
text = st.one_of(
    st.text(alphabet=st.characters(exclude_categories=("Cs",)), max_size=300),
    st.lists(st.sampled_from(AWKWARD), max_size=80).map("".join),
)
documents = st.lists(st.one_of(st.none(), text), max_size=60)
layout = st.sampled_from(["string", "large_string", "string_view", "sliced", "chunk_of_many"])


def _array(texts: list[str | None], kind: str) -> tuple[pa.Array, list[str | None]]:
    if kind == "sliced":  # offsets not starting at zero, as after a filter or a slice of a batch
        padded = pa.array(["pad", *texts, "pad"], pa.large_string())
        return padded.slice(1, len(texts)), texts
    if kind == "chunk_of_many":
        return pa.array(texts, pa.string()), texts
    return pa.array(texts, getattr(pa, kind)()), texts


@settings(max_examples=EXAMPLES, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(documents, layout)
def test_text_bindings_never_fail_and_agree_with_python(texts, kind):
    array, expected = _array(texts, kind)
    for name, (call, check) in TEXT_BINDINGS.items():
        out = call(array)
        if name != "sequential_ids":
            assert _rows(out) == len(texts), name
        if check is not None:
            check(expected, out)


raw = st.lists(st.one_of(st.none(), st.binary(max_size=300), text.map(str.encode)), max_size=60)


@settings(max_examples=EXAMPLES, deadline=None)
@given(raw, st.sampled_from(["binary", "large_binary", "binary_view", "sliced"]))
def test_binary_bindings_flag_exactly_the_invalid_utf8(docs, kind):
    if kind == "sliced":
        array = pa.array([b"x", *docs, b"y"], pa.binary()).slice(1, len(docs))
    else:
        array = pa.array(docs, getattr(pa, kind)())
    for _, call in BINARY_BINDINGS.items():
        decoded, invalid = call(array)
        decoded, invalid = pa.array(decoded), pa.array(invalid)
        assert len(decoded) == len(invalid) == len(docs)
        for doc, value, bad in zip(docs, decoded.to_pylist(), invalid.to_pylist(), strict=True):
            if doc is None:
                assert value is None and bad is False
                continue
            try:
                expected = doc.decode("utf-8")
            except UnicodeDecodeError:
                assert value is None and bad is True
            else:
                assert value == expected and bad is False


def test_wrong_types_raise_a_python_error_not_a_crash():
    numbers = pa.array([1, 2, 3])
    for _, (call, _) in TEXT_BINDINGS.items():
        try:
            call(numbers)
        except (ValueError, TypeError, pa.ArrowException):
            pass
    for call in BINARY_BINDINGS.values():
        try:
            call(numbers)
        except (ValueError, TypeError, pa.ArrowException):
            pass
    assert pc.sum(numbers).as_py() == 6  # the interpreter is still fine
