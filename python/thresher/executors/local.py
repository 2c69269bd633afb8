"""The local executor: stages in order, each stage's tasks over a pool of worker processes.

With one worker everything runs in this process (easy to debug). With more, tasks go to a
`ProcessPoolExecutor` started with `spawn` (rayon's thread pool does not survive `fork`), and
workers report rows and bytes through a queue so the progress bar moves inside long shards.
A failed task does not stop the others of its stage; the run ends non-zero with a summary.
"""

from __future__ import annotations

import multiprocessing
import os
import queue
import signal
import sys
import threading
import time
import traceback
from concurrent.futures import FIRST_COMPLETED, Future, ProcessPoolExecutor, wait
from dataclasses import dataclass, field
from typing import Any

from thresher.io.readers import InputError
from thresher.logs import configure_logging, logging_settings
from thresher.stages import Plan, Stage


@dataclass
class TaskError:
    stage: str
    task: int
    where: str
    message: str


@dataclass
class RunSummary:
    stages: list[dict[str, Any]] = field(default_factory=list)
    errors: list[TaskError] = field(default_factory=list)
    stats: dict[str, Any] | None = None
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        return not self.errors


def _describe_error(err: BaseException) -> str:
    """One line for errors that describe the input or the setup (I/O, bad values, and the exceptions
    Thresher raises on purpose, e.g. a missing model folder); the traceback for anything else (a bug)."""
    kind = type(err)
    deliberate = kind.__module__.startswith("thresher") and kind.__name__.endswith("Error")
    if deliberate or isinstance(err, InputError | ValueError | OSError):
        return f"{kind.__name__}: {err}"
    return "".join(traceback.format_exception(kind, err, err.__traceback__)).strip()


# -- worker side -------------------------------------------------------------------------------
_WORKER_PLAN: Plan | None = None
_WORKER_QUEUE: Any = None
_WORKER_INTERRUPTED = False


def _on_worker_interrupt(signum: int, frame: Any) -> None:
    # Remember the interrupt so tasks already queued to this worker return at once, then unwind the
    # current task (its writers abort, leaving nothing partial).
    global _WORKER_INTERRUPTED
    _WORKER_INTERRUPTED = True
    raise KeyboardInterrupt


def _die_with_parent() -> None:
    """Linux: a worker is killed when the run's process dies (SIGKILL, OOM killer), so no orphan keeps
    writing into an output directory that a rerun is already using."""
    if not sys.platform.startswith("linux"):
        return
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        pr_set_pdeathsig = 1
        libc.prctl(pr_set_pdeathsig, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):
        pass
    parent = multiprocessing.parent_process()
    if parent is not None and os.getppid() != parent.pid:  # the parent died before prctl took effect
        os._exit(1)


def _init_worker(
    plan: Plan, progress_queue: Any, rayon_threads: int, log_settings: tuple[str, bool] | None = None
) -> None:
    global _WORKER_PLAN, _WORKER_QUEUE
    _die_with_parent()
    if log_settings is not None:
        # A spawned worker starts with no handlers: steps' warnings (an over-full Bloom filter, a
        # skipped row group) would be lost without the parent's settings.
        configure_logging(*log_settings)
    os.environ.setdefault("RAYON_NUM_THREADS", str(rayon_threads))
    signal.signal(signal.SIGINT, _on_worker_interrupt)
    _WORKER_PLAN = plan.reload()
    _WORKER_QUEUE = progress_queue
    progress_queue.put(("pid", os.getpid()))


def _worker_task(stage_index: int, task: int) -> tuple[int, dict[str, Any] | None, str | None]:
    assert _WORKER_PLAN is not None
    if _WORKER_INTERRUPTED:
        return task, None, INTERRUPTED
    stage = _WORKER_PLAN.stages[stage_index]

    def report(rows: int, nbytes: int) -> None:
        _WORKER_QUEUE.put(("rows", rows, nbytes))

    try:
        return task, _WORKER_PLAN.run_task(stage, task, report if stage.kind == "map" else None), None
    except KeyboardInterrupt:
        return task, None, INTERRUPTED
    except BaseException as err:  # noqa: BLE001 - reported to the parent with its traceback
        return task, None, _describe_error(err)


INTERRUPTED = "interrupted"


# -- parent side -------------------------------------------------------------------------------
class ProgressBar:
    """Shards done, rows, rows/s and MB/s of text; silent when not on a terminal if quiet."""

    def __init__(self, stage: Stage, total: int, quiet: bool) -> None:
        self.quiet = quiet
        self.rows = 0
        self.bytes = 0
        self.started = time.time()
        self.bar = None
        if not quiet:
            from tqdm import tqdm

            self.bar = tqdm(
                total=total,
                desc=stage.name,
                unit="task" if stage.kind == "reduce" else "shard",
                dynamic_ncols=True,
                leave=True,
            )

    def add_rows(self, rows: int, nbytes: int) -> None:
        self.rows += rows
        self.bytes += nbytes
        if self.bar is not None:
            elapsed = max(time.time() - self.started, 1e-9)
            self.bar.set_postfix_str(
                f"{self.rows:,} rows, {self.rows / elapsed:,.0f} rows/s, {self.bytes / elapsed / 1e6:.1f} MB/s",
                refresh=False,
            )
            self.bar.refresh()

    def task_done(self) -> None:
        if self.bar is not None:
            self.bar.update(1)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


class LocalExecutor:
    def __init__(self, workers: int = 1, quiet: bool = False, log_format: str = "text") -> None:
        self.workers = workers
        self.quiet = quiet
        self.log_format = log_format

    def run(self, plan: Plan, force: bool = False) -> RunSummary:
        from thresher.logs import make_progress

        started = time.time()
        summary = RunSummary()
        plan.prepare_output(force=force)
        for index, stage in enumerate(plan.stages):
            pending = plan.pending_tasks(stage)
            info = {
                "name": stage.name,
                "kind": stage.kind,
                "tasks": stage.num_tasks,
                "skipped": stage.num_tasks - len(pending),
            }
            summary.stages.append(info)
            if not pending:
                continue
            stage_started = time.time()
            bar = make_progress(stage, stage.num_tasks, self.quiet, self.log_format, stage.num_tasks - len(pending))
            try:
                if self.workers == 1 or len(pending) == 1:
                    errors = self._run_inline(plan, stage, pending, bar)
                else:
                    errors = self._run_pool(plan, index, stage, pending, bar)
            finally:
                bar.close()
            info["seconds"] = round(time.time() - stage_started, 3)
            info["rows"] = bar.rows
            info["text_bytes"] = bar.bytes
            summary.errors.extend(errors)
            if errors:
                break  # later stages depend on this one
        if summary.ok:
            summary.stats = plan.merge_stats()
        summary.seconds = time.time() - started
        return summary

    def _run_inline(self, plan: Plan, stage: Stage, pending: list[int], bar: ProgressBar) -> list[TaskError]:
        errors = []
        for task in pending:
            try:
                plan.run_task(stage, task, bar.add_rows if stage.kind == "map" else None)
            except KeyboardInterrupt:
                raise
            except BaseException as err:  # noqa: BLE001 - one failed task must not stop the others
                errors.append(TaskError(stage.name, task, _task_where(plan, stage, task), _describe_error(err)))
            bar.task_done()
        return errors

    def _run_pool(self, plan: Plan, index: int, stage: Stage, pending: list[int], bar: ProgressBar) -> list[TaskError]:
        ctx = multiprocessing.get_context("spawn")
        progress_queue = ctx.Queue()
        workers = min(self.workers, len(pending))
        rayon_threads = max(1, (os.cpu_count() or 1) // workers)
        stop = threading.Event()

        worker_pids: set[int] = set()

        def drain() -> None:
            while not stop.is_set():
                try:
                    message = progress_queue.get(timeout=0.2)
                except queue.Empty:
                    continue
                except (EOFError, OSError):
                    return
                if message[0] == "pid":
                    worker_pids.add(message[1])
                else:
                    bar.add_rows(message[1], message[2])

        drainer = threading.Thread(target=drain, daemon=True)
        drainer.start()
        errors: list[TaskError] = []
        pool = ProcessPoolExecutor(
            max_workers=workers,
            mp_context=ctx,
            initializer=_init_worker,
            initargs=(plan, progress_queue, rayon_threads, logging_settings()),
        )
        try:
            futures: dict[Future, int] = {pool.submit(_worker_task, index, t): t for t in pending}
            remaining = set(futures)
            while remaining:
                done, remaining = wait(remaining, return_when=FIRST_COMPLETED)
                for fut in done:
                    task = futures[fut]
                    try:
                        _, _, error = fut.result()
                    except BaseException as err:  # noqa: BLE001 - a worker died (killed, OOM)
                        error = f"worker process failed: {type(err).__name__}: {err}"
                    if error == INTERRUPTED:
                        raise KeyboardInterrupt
                    if error is not None:
                        errors.append(TaskError(stage.name, task, _task_where(plan, stage, task), error))
                    bar.task_done()
        except KeyboardInterrupt:
            # A terminal's Ctrl-C reaches the workers too; a signal sent to this process alone does
            # not, so pass it on. Workers abort their current shard cleanly and skip queued ones.
            for pid in worker_pids:
                try:
                    os.kill(pid, signal.SIGINT)
                except ProcessLookupError:
                    pass
            pool.shutdown(wait=True, cancel_futures=True)
            raise
        finally:
            pool.shutdown(wait=True, cancel_futures=True)
            stop.set()
            drainer.join(timeout=2)
        return errors


def _task_where(plan: Plan, stage: Stage, task: int) -> str:
    if stage.kind == "map":
        return plan.shards[task].uri
    return f"{stage.name} partition {task}"
