"""Steps, one module per family. Importing this package registers the built-in steps."""

from thresher.steps import ask_llm, basic, classifier, decontaminate, dedup, language, line_dedup, mix  # noqa: F401
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
