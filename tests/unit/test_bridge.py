"""The Rust bridge: Arrow in, Arrow out, errors and panics as Python exceptions."""

import pyarrow as pa
import pytest

from thresher import _core


def test_signals_come_back_as_a_record_batch_of_the_same_length():
    text = pa.array(["a b c", None, "x\ny\r\nz"], pa.large_string())
    batch = _core.text_length_signals(text)
    assert isinstance(batch, pa.RecordBatch)
    assert batch.num_rows == 3
    assert batch.column("words").to_pylist() == [3, None, 3]
    assert batch.column("lines").to_pylist() == [1, None, 3]


def test_sliced_arrays_respect_their_offset():
    text = pa.array(["one", "two words", "three more words"]).slice(1, 2)
    assert _core.text_length_signals(text).column("words").to_pylist() == [2, 3]


def test_wrong_type_is_a_clear_error():
    with pytest.raises(_core.ThresherCoreError, match="expected a string column"):
        _core.text_length_signals(pa.array([1, 2, 3]))


def test_a_panic_becomes_an_exception_and_the_module_keeps_working():
    with pytest.raises(_core.RustPanic, match="deliberate panic"):
        _core._panic_for_test()
    assert _core.text_length_signals(pa.array(["still fine"])).num_rows == 1


def test_utf8_decoding_flags_invalid_rows():
    text, invalid = _core.decode_utf8(pa.array([b"ok", b"\xc3\x28", None], pa.large_binary()))
    assert text.to_pylist() == ["ok", None, None]
    assert invalid.to_pylist() == [False, True, False]


def test_sequential_ids_are_stable():
    assert _core.sequential_ids("s", 5, 2).to_pylist() == ["s/0000000005", "s/0000000006"]


def test_byte_lengths_match_python():
    texts = ["", "é", "日本語", None]
    lengths = _core.text_byte_lengths(pa.array(texts)).to_pylist()
    assert lengths == [0, 2, 9, None]
