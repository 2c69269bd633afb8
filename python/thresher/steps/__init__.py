"""Steps, one module per family. Importing this package registers the built-in steps."""

from thresher.steps import (  # noqa: F401
    ask_llm,
    basic,
    classifier,
    decontaminate,
    dedup,
    heuristics,
    language,
    line_dedup,
    mix,
)
from thresher.steps.base import Decision, GlobalStep, Step, StepContext, StepParams, ThresholdRule
from thresher.steps.registry import get_step_class, known_step_types, register_step

__all__ = [
    "Decision",
    "GlobalStep",
    "Step",
    "StepContext",
    "StepParams",
    "ThresholdRule",
    "get_step_class",
    "known_step_types",
    "register_step",
]
