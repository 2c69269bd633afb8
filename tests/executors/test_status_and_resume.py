"""`filter status`, the message of a changed pipeline, and preemption by signals (no cluster)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import multistage
import pytest
import yaml

from thresher import status as status_module
from thresher.cli import main
from thresher.executors.local import LocalExecutor
from thresher.executors.slurm import StageSubmission, Submission
from thresher.io.writers import write_json_atomic


def fake_submission(plan, stages: list[StageSubmission]) -> None:
    doc = Submission(stages, time.time()).to_json()
    write_json_atomic(plan.fs, plan.path("_thresher", "slurm_submission.json"), plan.tmp_dir, doc)


def test_status_of_a_finished_local_run(make_plan, capsys):
    plan = make_plan()
    assert LocalExecutor(quiet=True).run(plan).ok
    assert main(["status", plan.config.output.path]) == 0
    text = capsys.readouterr().out
    assert "stage segment0 (map, 4 tasks): 4 done" in text
    assert "stage median.partial (reduce, 2 tasks): 2 done" in text
    assert "complete" in text


def test_status_reports_failed_running_and_not_run_tasks(make_plan, monkeypatch, capsys):
    plan = make_plan()
    assert LocalExecutor(quiet=True).run(plan).ok
    segment1 = plan.stages[3]
    for task in (1, 2, 3):
        Path(plan.marker_path(segment1, task)).unlink()
    Path(plan.path("stats.json")).unlink()
    logs = Path(plan.root) / "_thresher" / "slurm" / "segment1"
    (logs / "logs").mkdir(parents=True)
    (logs / "logs" / "task_00001.log").write_text("starting\nTraceback (most recent call last):\nValueError: boom\n")
    fake_submission(
        plan,
        [
            StageSubmission("segment1", [1, 2, 3], 2, 1, str(logs), ["41", "42"]),
            StageSubmission("merge_stats", [0], 1, 1, str(logs.parent / "merge_stats"), ["43"]),
        ],
    )
    # task 1 failed (it left a log), task 2 never started (array cancelled), task 3 (second array) runs
    monkeypatch.setattr("thresher.executors.slurm.queued_tasks", lambda ids: {("42", 0): "RUNNING"})

    assert main(["status", plan.config.output.path, "--lines", "2"]) == 1
    text = capsys.readouterr().out
    assert "stage segment1 (map, 4 tasks): 1 done, 1 failed, 1 not run, 1 running" in text
    assert "failed: task 1 (" in text and "part-1.parquet" in text
    assert f"log {logs / 'logs' / 'task_00001.log'}:" in text
    assert "    | ValueError: boom" in text and "| starting" not in text  # the last 2 lines only
    assert "not run (cancelled before starting, e.g. after an earlier failure): tasks 2" in text
    assert "stage merge_stats (merge, 1 tasks): 1 not run" in text
    assert "in progress" in text

    assert main(["status", plan.config.output.path, "--json"]) == 1
    doc = json.loads(capsys.readouterr().out)
    states = {t["task"]: t["state"] for t in doc["stages"][3]["tasks"]}
    assert states == {0: "done", 1: "failed", 2: "not run", 3: "running"}


def test_status_without_squeue_says_unknown(make_plan, monkeypatch):
    plan = make_plan()
    assert LocalExecutor(quiet=True).run(plan).ok
    Path(plan.marker_path(plan.stages[0], 0)).unlink()
    fake_submission(plan, [StageSubmission("segment0", [0], 1, 1, "/nonexistent", ["7"])])
    monkeypatch.setattr("thresher.executors.slurm.queued_tasks", lambda ids: None)
    status = status_module.collect_status(plan.config.output.path)
    assert not status.queue_known
    assert status.stages[0].tasks[0].state == "unknown"
    assert "squeue did not answer" in status_module.format_status(status)


def test_status_of_a_directory_without_output(tmp_path, capsys):
    assert main(["status", str(tmp_path)]) == 2
    assert "no Thresher output here" in capsys.readouterr().err


def test_changed_pipeline_is_refused_with_what_changed(corpus, capsys):
    doc = multistage.pipeline_document(str(corpus / "input" / "*.parquet"), str(corpus / "out"))
    path = corpus / "p.yaml"
    path.write_text(yaml.safe_dump(doc))
    sys.path.insert(0, str(multistage.SUPPORT_DIR))
    assert main(["run", str(path), "-q"]) == 0
    capsys.readouterr()
    assert main(["run", str(path), "-q", "--set", "steps.0.min_words=5", "--set", "steps.2.partitions=3"]) == 2
    err = capsys.readouterr().err
    assert "steps[0].min_words: 3 -> 5" in err and "steps[2].partitions: null -> 3" in err
    assert "--force" in err


HOLD_RUNNER = textwrap.dedent(
    """
    import sys
    from thresher.config import parse_pipeline
    from thresher.executors.tasks import Preempted, run_guarded
    from thresher.stages import Plan
    import json, multistage
    plan = Plan.create(parse_pipeline(json.loads(sys.argv[1])))
    plan.prepare_output()
    stage = plan.stages[0]
    try:
        run_guarded(plan, stage, int(sys.argv[2]))
    except Preempted as stop:
        print("PREEMPTED", stop.signum, flush=True)
        sys.exit(3)
    print("DONE", flush=True)
    """
)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGUSR1])
def test_a_signal_stops_a_map_task_at_a_batch_boundary_with_nothing_kept(corpus, signum):
    out = corpus / "out"
    doc = multistage.pipeline_document(str(corpus / "input" / "*.parquet"), str(out))
    hold = corpus / "hold"
    hold.touch()
    env = multistage.with_support_on_path(dict(os.environ))
    env.update({multistage.HOLD_FILE_ENV: str(hold), multistage.HOLD_SHARD_ENV: "part-1"})
    env.pop("SLURM_JOB_ID", None)
    proc = subprocess.Popen(
        [sys.executable, "-c", HOLD_RUNNER, json.dumps(doc), "1"], env=env, stdout=subprocess.PIPE, text=True
    )
    tmp_dir = out / "_thresher" / "tmp"
    held = Path(f"{hold}.held")
    deadline = time.time() + 120
    while not held.exists() and time.time() < deadline:
        time.sleep(0.05)
    assert proc.poll() is None, "the task should be holding"
    proc.send_signal(signum)
    time.sleep(0.5)
    assert proc.poll() is None, "the task must not stop in the middle of a batch"
    hold.unlink()
    stdout, _ = proc.communicate(timeout=60)
    assert proc.returncode == 3 and f"PREEMPTED {int(signum)}" in stdout
    assert not (out / "data" / "part-1.parquet").exists()
    assert not (out / "rejected" / "part-1.parquet").exists()
    assert not list(tmp_dir.glob("*")), "temporary files must be dropped"
    assert not (out / "_thresher" / "markers" / "segment0" / "00001.json").exists()
