from pathlib import Path

import pytest

from thresher.config import ConfigError, apply_override, load_pipeline, parse_pipeline


def base(**steps_extra):
    return {
        "input": {"paths": ["x.parquet"]},
        "steps": [{"type": "text_length", "min_words": 5, **steps_extra}],
        "output": {"path": "out"},
    }


def test_valid_pipeline_parses_step_params():
    config = parse_pipeline(base())
    assert config.specs[0].name == "text_length"
    assert config.specs[0].params.min_words == 5
    assert config.executor.workers == 1


def test_wrong_value_names_file_key_and_input():
    with pytest.raises(ConfigError) as err:
        parse_pipeline(base(min_words="many"), "p.yaml")
    message = str(err.value)
    assert "p.yaml: steps[0].min_words:" in message
    assert '"many"' in message


def test_typo_in_key_is_an_unknown_key():
    with pytest.raises(ConfigError, match=r"p.yaml: steps\[0\].min_wrds: unknown key"):
        parse_pipeline(base(min_wrds=3), "p.yaml")
    raw = base()
    raw["output"]["rejectd"] = True
    with pytest.raises(ConfigError, match=r"output.rejectd: unknown key"):
        parse_pipeline(raw, "p.yaml")


def test_unknown_step_lists_known_types():
    raw = base()
    raw["steps"] = [{"type": "gopher_qualty"}]
    with pytest.raises(ConfigError, match=r"steps\[0\].type: unknown step type 'gopher_qualty'.*text_length"):
        parse_pipeline(raw, "p.yaml")


def test_duplicate_step_names_are_rejected():
    raw = base()
    raw["steps"] = [{"type": "text_length"}, {"type": "text_length"}]
    with pytest.raises(ConfigError, match="used twice"):
        parse_pipeline(raw)
    raw["steps"][1]["name"] = "second_length"
    assert [s.name for s in parse_pipeline(raw).specs] == ["text_length", "second_length"]


def test_missing_section_is_reported():
    with pytest.raises(ConfigError, match="output: required key is missing"):
        parse_pipeline({"input": {"paths": ["a"]}, "steps": []}, "p.yaml")


def test_overrides_with_dots_and_indices():
    raw = base()
    apply_override(raw, "steps.0.min_words=20")
    apply_override(raw, "steps[0].max_words=100")
    apply_override(raw, "executor.workers=3")
    apply_override(raw, "input.paths=[a.parquet, b.parquet]")
    config = parse_pipeline(raw)
    assert config.specs[0].params.min_words == 20
    assert config.specs[0].params.max_words == 100
    assert config.executor.workers == 3
    assert config.input.paths == ["a.parquet", "b.parquet"]
    with pytest.raises(ConfigError, match="does not exist"):
        apply_override(raw, "steps.5.min_words=1")
    with pytest.raises(ConfigError, match="key.path=value"):
        apply_override(raw, "steps.0.min_words")


def test_load_pipeline_file_with_output_override(tmp_path: Path):
    path = tmp_path / "p.yaml"
    path.write_text("input: {paths: [a.parquet]}\nsteps: [{type: char_classes}]\noutput: {path: o}\n")
    config = load_pipeline(path, overrides=["steps.0.max_digit_fraction=0.5"], output="elsewhere")
    assert config.output.path == "elsewhere"
    assert config.specs[0].params.max_digit_fraction == 0.5
    with pytest.raises(ConfigError, match="no such pipeline file"):
        load_pipeline(tmp_path / "missing.yaml")
    (tmp_path / "bad.yaml").write_text("input: [unclosed\n")
    with pytest.raises(ConfigError, match="not valid YAML"):
        load_pipeline(tmp_path / "bad.yaml")


def test_fingerprint_ignores_executor_but_not_params():
    a = parse_pipeline(base())
    raw = base()
    raw["executor"] = {"type": "local", "workers": 4}
    assert parse_pipeline(raw).fingerprint() == a.fingerprint()
    assert parse_pipeline(base(max_words=10)).fingerprint() != a.fingerprint()


def test_json_schema_lists_every_step():
    from thresher.config import pipeline_json_schema

    schema = pipeline_json_schema()
    titles = {v["title"] for v in schema["properties"]["steps"]["items"]["oneOf"]}
    assert {"text_length", "char_classes"} <= titles
