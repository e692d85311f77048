"""Configs headprune may change: only the one the pruned model owns, and only its own copy.

A config object is often shared: by every layer of one model (Llama's attention keeps
``self.config``), or by two models built from one config (a teacher and its student). The
config is synced only when the pruned root is a model that owns it (a transformers
``PreTrainedModel``, not a bare attention module that merely refers to it), and it is first
replaced by a private copy, re-pointed everywhere inside the model, so no other model or
module sees the change.
"""
from __future__ import annotations

import copy

from torch import nn

from .config_overlay import ConfigOverlay


def owns_config(model: nn.Module) -> bool:
    """A transformers model (it declares a ``config_class``) holding a config."""
    return getattr(model, "config", None) is not None and getattr(type(model), "config_class", None) is not None


def _is_config(value) -> bool:
    """A transformers config (duck-typed, so headprune needs no transformers import here)."""
    return not isinstance(value, type) and hasattr(value, "to_dict") and hasattr(type(value), "model_type")


def _configs_inside(config, out: dict[int, object]) -> dict[int, object]:
    """``config`` and every config nested in it (composite models' sub-configs), by id."""
    if id(config) in out:
        return out
    out[id(config)] = config
    for value in vars(config).values():
        if _is_config(value):
            _configs_inside(value, out)
    return out


def take_private_config(model: nn.Module) -> None:
    """Give ``model`` its own copy of its config (and nested sub-configs), re-pointed everywhere
    inside the model, so syncing it cannot reach another model or an outside reference."""
    old = model.config
    new = copy.deepcopy(old)
    olds, news = _configs_inside(old, {}), _configs_inside(new, {})
    mapping = {i: n for i, n in zip(olds, news.values())}  # same traversal order in both
    for module in model.modules():
        cfg = module.__dict__.get("config")
        if isinstance(cfg, ConfigOverlay) and id(cfg.base) in mapping:
            cfg.__dict__["_base"] = mapping[id(cfg.base)]
        elif cfg is not None and id(cfg) in mapping:
            module.config = mapping[id(cfg)]
