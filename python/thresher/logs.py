"""Log output for people and for batch systems.

`text` (default): log records as `LEVEL name: message`, tqdm progress bars on a terminal.
`--quiet`: no progress bars, only warnings, errors and the final summary (for batch logs read by people).
`json`: one JSON object per line on stderr for every log record and progress event, so Slurm logs can be
parsed (`{"time": ..., "event": "progress", "stage": ..., "tasks_done": ..., "rows": ..., ...}`).
"""

from __future__ import annotations

import json
import logging
import sys
import time
from typing import Any, TextIO

LOG_FORMATS = ("text", "json")


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        doc = {
            "time": round(record.created, 3),
            "event": "log",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            doc["exception"] = self.formatException(record.exc_info)
        return json.dumps(doc, ensure_ascii=False)


_CONFIGURED: tuple[str, bool] | None = None


def configure_logging(log_format: str = "text", quiet: bool = False) -> None:
    global _CONFIGURED
    _CONFIGURED = (log_format, quiet)
    handler = logging.StreamHandler(sys.stderr)
    if log_format == "json":
        handler.setFormatter(JsonFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(logging.WARNING if quiet else logging.INFO)


def logging_settings() -> tuple[str, bool] | None:
    """The (format, quiet) this process configured, for worker processes to log the same way."""
    return _CONFIGURED


def emit_event(event: str, stream: TextIO | None = None, **fields: Any) -> None:
    """Writes one JSON event line (flushed, so a killed job's log still has it)."""
    stream = stream or sys.stderr
    stream.write(json.dumps({"time": round(time.time(), 3), "event": event, **fields}, ensure_ascii=False) + "\n")
    stream.flush()


class JsonProgress:
    """The progress bar's interface, reporting as JSON lines: at the stage's start and end, after each
    task, and at most every `interval` seconds while rows stream in."""

    bar = None  # no tqdm bar (the executor checks this attribute)

    def __init__(self, stage: Any, total: int, already_done: int = 0, interval: float = 30.0) -> None:
        self.stage = stage
        self.total = total
        self.done = already_done
        self.rows = 0
        self.bytes = 0
        self.interval = interval
        self.started = time.time()
        self.last = 0.0
        emit_event("stage_start", stage=stage.name, kind=stage.kind, tasks=total, already_done=already_done)

    def _fields(self) -> dict[str, Any]:
        elapsed = max(time.time() - self.started, 1e-9)
        return {
            "stage": self.stage.name,
            "tasks_done": self.done,
            "tasks": self.total,
            "rows": self.rows,
            "rows_per_s": round(self.rows / elapsed, 1),
            "mb_per_s": round(self.bytes / elapsed / 1e6, 3),
            "elapsed_s": round(elapsed, 3),
        }

    def add_rows(self, rows: int, nbytes: int) -> None:
        self.rows += rows
        self.bytes += nbytes
        now = time.time()
        if now - self.last >= self.interval:
            self.last = now
            emit_event("progress", **self._fields())

    def task_done(self) -> None:
        self.done += 1
        self.last = time.time()
        emit_event("progress", **self._fields())

    def close(self) -> None:
        emit_event("stage_end", **self._fields())


def make_progress(stage: Any, total: int, quiet: bool, log_format: str, already_done: int = 0) -> Any:
    """The progress reporter for a stage: tqdm bar, silent, or JSON lines."""
    from thresher.executors.local import ProgressBar

    if log_format == "json":
        return JsonProgress(stage, total, already_done)
    bar = ProgressBar(stage, total, quiet)
    if bar.bar is not None and already_done:
        bar.bar.update(already_done)
    return bar
