"""Executors run a plan's stages; they never know what a stage does."""

from thresher.executors.local import LocalExecutor, RunSummary, TaskError

__all__ = ["LocalExecutor", "RunSummary", "TaskError"]
