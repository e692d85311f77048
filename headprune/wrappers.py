"""Seeing through wrappers: ``torch.compile``'s ``_orig_mod``, DDP/DataParallel's ``module``,
PEFT's ``base_model.model``.

A wrapper holds no parameters of its own, so the model it wraps is the one that owns the
attention blocks, the config and the prune record; pruning, saving and loading act on it.
"""
from __future__ import annotations

from torch import nn

WRAPPED_PATHS = ("_orig_mod", "module", "base_model.model")


def _inner(model: nn.Module, path: str) -> nn.Module | None:
    obj = model
    for part in path.split("."):
        obj = getattr(obj, part, None)
        if not isinstance(obj, nn.Module):
            return None
    return obj


def unwrap(model: nn.Module) -> nn.Module:
    """The innermost model under wrappers that add no parameters of their own."""
    while True:
        for path in WRAPPED_PATHS:
            inner = _inner(model, path)
            if inner is not None and inner is not model and _same_parameters(model, inner):
                model = inner
                break
        else:
            return model


def _same_parameters(outer: nn.Module, inner: nn.Module) -> bool:
    return ({id(p) for p in outer.parameters()} == {id(p) for p in inner.parameters()}
            and {id(b) for b in outer.buffers()} == {id(b) for b in inner.buffers()})
