"""Step registry: `type:` names in pipeline files map to step classes.

Built-in families register themselves when `thresher.steps` is imported. A user's own step can
be named by import path (`type: mypackage.module:MyStep`) without registering.
"""

from __future__ import annotations

import importlib

from thresher.steps.base import Step

_REGISTRY: dict[str, type[Step]] = {}


def register_step(cls: type[Step]) -> type[Step]:
    """Class decorator: registers a step under its `type`."""
    step_type = cls.type
    if step_type in _REGISTRY and _REGISTRY[step_type] is not cls:
        raise ValueError(f"step type {step_type!r} is registered twice")
    _REGISTRY[step_type] = cls
    return cls


def _load_builtin() -> None:
    import thresher.steps  # noqa: F401  (registers the built-in families)


def get_step_class(step_type: str) -> type[Step]:
    _load_builtin()
    if step_type in _REGISTRY:
        return _REGISTRY[step_type]
    if ":" in step_type:
        module_name, _, attr = step_type.partition(":")
        try:
            cls = getattr(importlib.import_module(module_name), attr)
        except (ImportError, AttributeError) as err:
            raise KeyError(step_type) from err
        if isinstance(cls, type) and issubclass(cls, Step):
            return cls
    raise KeyError(step_type)


def known_step_types() -> list[str]:
    _load_builtin()
    return sorted(_REGISTRY)


def all_step_classes() -> dict[str, type[Step]]:
    _load_builtin()
    return dict(_REGISTRY)
