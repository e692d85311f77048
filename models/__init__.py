"""Tiny random model zoo (no downloads; every model is built from a config)."""

from .registry import (
    BACKENDS,
    Case,
    InputSpec,
    available_backends,
    build,
    case_names,
    cases,
    get_case,
    logits,
    set_attention_backend,
)

__all__ = [
    "BACKENDS",
    "Case",
    "InputSpec",
    "available_backends",
    "build",
    "case_names",
    "cases",
    "get_case",
    "logits",
    "set_attention_backend",
]
