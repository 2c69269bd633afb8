"""`filter status OUT`: which stages and tasks of an output directory are done, running or failed.

It reads only the output directory: the manifest (`_thresher/pipeline.json`), the completion
markers, and the record of the latest Slurm submission when there is one; it asks `squeue` for
the tasks still queued. A task that is neither done nor queued but was submitted is `failed`
when it left a log (it started), `not run` otherwise (its array was cancelled, e.g. because an
earlier stage failed). For failed tasks the report gives the log paths and their last lines.
"""

from __future__ import annotations

import os
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import pyarrow.fs as pafs

from thresher.io.readers import filesystem_for
from thresher.io.writers import read_json

DONE, FAILED, NOT_RUN, MISSING, UNKNOWN = "done", "failed", "not run", "missing", "unknown"


class StatusError(RuntimeError):
    pass


@dataclass
class TaskStatus:
    task: int
    state: str  # done, running, pending, failed, not run, missing, unknown, or another Slurm state
    where: str  # the shard, or the reduce partition
    logs: list[str] = field(default_factory=list)  # existing log files (for failed tasks)


@dataclass
class StageStatus:
    name: str
    kind: str
    tasks: list[TaskStatus]

    def counts(self) -> Counter:
        return Counter(t.state for t in self.tasks)


@dataclass
class OutputStatus:
    output: str
    fingerprint: str
    stages: list[StageStatus]
    stats_done: bool
    submission: dict[str, Any] | None = None
    queue_known: bool = True

    @property
    def complete(self) -> bool:
        return self.stats_done and all(t.state == DONE for s in self.stages for t in s.tasks)

    @property
    def active(self) -> bool:
        return any(t.state not in (DONE, FAILED, NOT_RUN, MISSING, UNKNOWN) for s in self.stages for t in s.tasks)

    def to_json(self) -> dict[str, Any]:
        return {
            "output": self.output,
            "fingerprint": self.fingerprint,
            "complete": self.complete,
            "stats": self.stats_done,
            "stages": [
                {
                    "name": s.name,
                    "kind": s.kind,
                    "counts": dict(s.counts()),
                    "tasks": [{"task": t.task, "state": t.state, "where": t.where, "logs": t.logs} for t in s.tasks],
                }
                for s in self.stages
            ],
        }


def _exists(path: str | None) -> bool:
    return bool(path) and os.path.isfile(path)


def collect_status(output: str) -> OutputStatus:
    from thresher.executors.slurm import MERGE_STAGE, SUBMISSION_FILE, Submission, queued_tasks

    fs, root = filesystem_for(output)
    root = root.rstrip("/")
    manifest_path = f"{root}/_thresher/pipeline.json"
    if fs.get_file_info(manifest_path).type != pafs.FileType.File:
        raise StatusError(f"{output}: no Thresher output here (no _thresher/pipeline.json)")
    manifest = read_json(fs, manifest_path)
    shards = manifest.get("shards", [])

    submission = None
    submission_path = f"{root}/_thresher/{SUBMISSION_FILE}"
    if fs.get_file_info(submission_path).type == pafs.FileType.File:
        submission = Submission.from_json(read_json(fs, submission_path))
    submitted = {s.stage: s for s in submission.stages} if submission else {}
    queued = queued_tasks(submission.job_ids()) if submission else {}

    def markers(stage: str) -> set[int]:
        listing = fs.get_file_info(pafs.FileSelector(f"{root}/_thresher/markers/{stage}", allow_not_found=True))
        return {int(i.base_name.split(".")[0]) for i in listing if i.base_name.endswith(".json")}

    def state_of(stage: str, task: int, where: str, done: bool) -> TaskStatus:
        if done:
            return TaskStatus(task, DONE, where)
        sub = submitted.get(stage)
        if sub is None or task not in sub.ranks:
            return TaskStatus(task, MISSING, where)
        if queued is None:
            return TaskStatus(task, UNKNOWN, where)
        located = sub.locate(task)
        if located in queued:
            return TaskStatus(task, queued[located].lower(), where)
        logs = [p for p in (sub.task_log(task), sub.slurm_log(task)) if _exists(p)]
        return TaskStatus(task, FAILED if logs else NOT_RUN, where, logs)

    stages = []
    for info in manifest.get("stages", []):
        name, kind, num_tasks = info["name"], info["kind"], info["tasks"]
        done = markers(name)
        tasks = []
        for task in range(num_tasks):
            where = shards[task] if kind == "map" and task < len(shards) else f"{name} partition {task}"
            tasks.append(state_of(name, task, where, task in done))
        stages.append(StageStatus(name, kind, tasks))

    stats_path = f"{root}/stats.json"
    stats_done = fs.get_file_info(stats_path).type == pafs.FileType.File
    if stats_done:
        stats_done = read_json(fs, stats_path).get("fingerprint") == manifest.get("fingerprint")
    if MERGE_STAGE in submitted:
        stages.append(StageStatus(MERGE_STAGE, "merge", [state_of(MERGE_STAGE, 0, "stats.json", stats_done)]))
    return OutputStatus(
        output,
        manifest.get("fingerprint", ""),
        stages,
        stats_done,
        submission.to_json() if submission else None,
        queue_known=queued is not None,
    )


def tail(path: str, lines: int) -> list[str]:
    """The last `lines` lines of a text file (reads only its end)."""
    with open(path, "rb") as f:
        f.seek(0, os.SEEK_END)
        size = f.tell()
        f.seek(max(0, size - 64 * 1024))
        text = f.read().decode("utf-8", errors="replace")
    return text.splitlines()[-lines:]


def format_status(status: OutputStatus, tail_lines: int = 10) -> str:
    out = [f"{status.output}: pipeline {status.fingerprint}"]
    if status.submission:
        jobs = sorted({j for s in status.submission["stages"] for j in s["job_ids"]}, key=lambda j: (len(j), j))
        out[0] += f"; last Slurm submission: jobs {', '.join(jobs)}"
    if not status.queue_known:
        out.append("  (squeue did not answer: states of unfinished tasks are unknown)")
    for stage in status.stages:
        counts = stage.counts()
        summary = ", ".join(f"{n} {state}" for state, n in sorted(counts.items(), key=lambda kv: kv[0] != DONE))
        out.append(f"stage {stage.name} ({stage.kind}, {len(stage.tasks)} tasks): {summary}")
        for t in stage.tasks:
            if t.state != FAILED:
                continue
            out.append(f"  failed: task {t.task} ({t.where})")
            for log in t.logs:
                out.append(f"    log {log}:")
                out.extend(f"    | {line}" for line in tail(log, tail_lines))
        not_run = [str(t.task) for t in stage.tasks if t.state == NOT_RUN]
        if not_run:
            out.append(
                f"  not run (cancelled before starting, e.g. after an earlier failure): tasks {', '.join(not_run)}"
            )
    out.append(f"stats.json: {'written' if status.stats_done else 'not yet written'}")
    if status.complete:
        out.append("complete")
    elif status.active:
        out.append("in progress")
    else:
        out.append("incomplete: rerun the same `filter run` command to run the missing and failed tasks")
    return "\n".join(out)
