"""One Thresher task outside the process that planned it: a picklable plan, and clean preemption.

Remote executors (Slurm array tasks, Ray workers) receive a `PlanSpec` (the validated config as
JSON plus the exact shard listing made at submission), rebuild the `Plan` and run one task.

Schedulers stop work with signals: Slurm sends SIGTERM on preemption, cancel or time limit
(SIGKILL follows after KillWait) and, with `--signal=USR1@N`, SIGUSR1 N seconds before the
limit. `PreemptionGuard` turns either into a `Preempted` exception raised at the next batch
boundary of a map task (at once in a reduce task). The task's writers are atomic, so unwinding
drops their temporary files: nothing partial is left and no marker is written, so the task is
pending again for a requeue or a rerun.
"""

from __future__ import annotations

import os
import signal
import threading
from dataclasses import dataclass
from types import FrameType
from typing import Any

from thresher.config import parse_pipeline
from thresher.io.readers import Shard
from thresher.stages import Plan, Progress, Stage

PREEMPTION_SIGNALS = (signal.SIGTERM, signal.SIGUSR1)


class Preempted(BaseException):
    """The scheduler asked this task to stop; nothing of it was kept.

    A BaseException, like KeyboardInterrupt, so that no `except Exception` in a step swallows it.
    """

    def __init__(self, signum: int) -> None:
        self.signum = signum
        super().__init__(f"stopped by {signal.Signals(signum).name}; no partial output was kept")


class PreemptionGuard:
    """Context manager: while active, SIGTERM/SIGUSR1 request a clean stop instead of killing."""

    def __init__(self, signals: tuple[int, ...] = PREEMPTION_SIGNALS) -> None:
        self.signals = signals
        self.received: int | None = None
        self._previous: dict[int, Any] = {}
        self._at_batches = False

    def __enter__(self) -> PreemptionGuard:
        if threading.current_thread() is threading.main_thread():  # signal handlers only work there
            for sig in self.signals:
                self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        self.restore()

    def restore(self) -> None:
        for sig, previous in self._previous.items():
            signal.signal(sig, previous)
        self._previous = {}

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        self.received = signum
        if not self._at_batches:
            raise Preempted(signum)

    def progress(self, inner: Progress | None = None) -> Progress:
        """A progress callback (called by map tasks after every batch) that stops there when asked."""
        self._at_batches = True

        def report(rows: int, nbytes: int) -> None:
            if inner is not None:
                inner(rows, nbytes)
            if self.received is not None:
                raise Preempted(self.received)

        return report


def run_guarded(plan: Plan, stage: Stage, task: int, progress: Progress | None = None) -> dict[str, Any]:
    """Runs one task; a preemption signal raises `Preempted` after the task's output was dropped."""
    with PreemptionGuard() as guard:
        if guard.received is not None:
            raise Preempted(guard.received)
        return plan.run_task(stage, task, guard.progress(progress) if stage.kind == "map" else None)


@dataclass
class PlanSpec:
    """What a remote task needs to rebuild the plan: config as JSON, the shard listing, and the
    directory it was submitted from (relative paths in the pipeline are relative to it)."""

    config: dict[str, Any]
    shards: list[Shard]
    workdir: str

    @classmethod
    def of(cls, plan: Plan) -> PlanSpec:
        return cls(plan.config.model_dump(mode="json"), list(plan.shards), os.getcwd())

    def build(self) -> Plan:
        # The config stays as written (its fingerprint must match the submitter's), so the task
        # runs where the submitter ran.
        if os.path.isdir(self.workdir):
            os.chdir(self.workdir)
        return Plan(parse_pipeline(self.config, "<submitted pipeline>"), list(self.shards))


def limit_rayon_threads(cpus: int | str | None) -> None:
    """Rust's thread pool should use the CPUs the scheduler gave the task, not the whole node."""
    if cpus and "RAYON_NUM_THREADS" not in os.environ:
        os.environ["RAYON_NUM_THREADS"] = str(cpus)
