"""`filter schema` (a JSON Schema editors can use) and the batch-log modes of `filter run`."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest
import yaml

from thresher.cli import main
from thresher_testing import REPO, python_path, write_pipeline


@pytest.fixture(scope="module")
def schema() -> dict:
    out = subprocess.run(
        [sys.executable, "-m", "thresher", "schema"], capture_output=True, text=True, check=True, cwd=REPO
    ).stdout
    return json.loads(out)


def _errors(schema: dict, document: dict) -> list[str]:
    validator = jsonschema.Draft202012Validator(schema)
    return [e.message for e in validator.iter_errors(document)]


def test_schema_is_a_valid_json_schema_that_accepts_the_shipped_pipelines(schema: dict):
    jsonschema.Draft202012Validator.check_schema(schema)
    for path in sorted((REPO / "pipelines").glob("*.yaml")):
        assert _errors(schema, yaml.safe_load(path.read_text())) == [], path.name


def test_schema_lists_every_registered_step(schema: dict):
    from thresher.steps.registry import all_step_classes

    variants = {v["title"] for v in schema["properties"]["steps"]["items"]["oneOf"]}
    assert variants == set(all_step_classes())


@pytest.mark.parametrize(
    "change",
    [
        lambda d: d["output"].update(rejectd=True),  # a typo in a key
        lambda d: d.update(stepz=[]),  # an unknown top-level key
        lambda d: d["steps"].append({"type": "no_such_step"}),  # an unknown step type
        lambda d: d["steps"][0].update(min_wordz=3),  # a typo in a step parameter
        lambda d: d["steps"][0].update(min_words="high"),  # a wrong value type
        lambda d: d["input"].pop("paths"),  # a required key missing
    ],
    ids=["key-typo", "unknown-top-key", "unknown-step", "step-param-typo", "wrong-type", "missing-key"],
)
def test_schema_rejects_what_the_loader_rejects(schema: dict, change):
    document = yaml.safe_load((REPO / "pipelines" / "quickstart.yaml").read_text())
    change(document)
    assert _errors(schema, document)


def _run_logged(tmp_path: Path, shards: Path, *flags: str) -> subprocess.CompletedProcess:
    out = tmp_path / "out"
    pipeline = write_pipeline(
        tmp_path / "p.yaml", f"{shards}/*.parquet", out, "  - type: text_length\n    min_words: 20"
    )
    return subprocess.run(
        [sys.executable, "-m", "thresher", "run", str(pipeline), "--workers", "2", *flags],
        capture_output=True,
        text=True,
        cwd=REPO,
        env={"PYTHONPATH": python_path(), "PATH": "/usr/bin:/bin"},
    )


def test_json_log_format_writes_one_json_event_per_line(tmp_path: Path, shards: Path):
    run = _run_logged(tmp_path, shards, "--log-format", "json")
    assert run.returncode == 0, run.stderr
    events = [json.loads(line) for line in run.stderr.splitlines()]  # every line parses
    kinds = [e["event"] for e in events]
    assert kinds[0] == "stage_start" and kinds[-1] == "run_end"
    assert kinds.count("progress") >= 3 and "stage_end" in kinds
    last = [e for e in events if e["event"] == "stage_end"][-1]
    assert last["tasks_done"] == last["tasks"] == 3 and last["rows"] == 75
    assert events[-1]["ok"] is True and events[-1]["stats"]["input_rows"] == 75


def test_quiet_mode_prints_no_progress_bar(tmp_path: Path, shards: Path):
    run = _run_logged(tmp_path, shards, "--quiet")
    assert run.returncode == 0, run.stderr
    assert run.stderr.strip() == ""
    assert "75 documents in" in run.stdout


def test_json_log_of_a_failed_run_names_the_error(tmp_path: Path, shards: Path):
    (shards / "bad.parquet").write_bytes(b"PAR1 this is not parquet")
    run = _run_logged(tmp_path, shards, "--log-format", "json")
    assert run.returncode == 1
    end = next(json.loads(line) for line in reversed(run.stderr.splitlines()) if '"run_end"' in line)
    assert end["ok"] is False and "bad.parquet" in end["errors"][0]["where"]


def test_schema_command_prints_json(capsys):
    assert main(["schema"]) == 0
    assert json.loads(capsys.readouterr().out)["title"] == "PipelineConfig"
