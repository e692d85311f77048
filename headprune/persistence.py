"""Save a pruned model and load it back exactly.

Stock model classes cannot rebuild non-uniform (or, for several families, any) pruned
shapes from their config (attention-map §6, §8). So a save holds the weights plus the
record of every plan; a load builds the original architecture, replays the plans, then
loads the weights strictly.
"""
from __future__ import annotations

import importlib
import json
from pathlib import Path

from safetensors.torch import load_model, save_model
from torch import nn

from .api import RECORD_ATTR, apply_plan
from .blocks import attention_blocks
from .errors import RequestError
from .plan import Plan

RECORD_FILE = "headprune.json"
WEIGHTS_FILE = "model.safetensors"
FORMAT = 1


def save(model: nn.Module, directory) -> Path:
    directory = Path(directory)
    directory.mkdir(parents=True, exist_ok=True)
    cls = type(model)
    config = getattr(model, "config", None)
    # An unpruned model has no record yet: its own config is then the original one.
    record = getattr(model, RECORD_ATTR, None) or {
        "original_config": config.to_dict() if hasattr(config, "to_dict") else None, "steps": []}
    payload = {
        "format": FORMAT,
        "model_class": f"{cls.__module__}:{cls.__qualname__}",
        "attn_implementation": getattr(config, "_attn_implementation", None),
        "original_config": record["original_config"],
        "steps": record["steps"],
    }
    (directory / RECORD_FILE).write_text(json.dumps(payload, indent=1))
    save_model(model, str(directory / WEIGHTS_FILE))
    return directory


def load(directory, model: nn.Module | None = None) -> nn.Module:
    """Load a saved pruned model.

    ``model``: a freshly built, unpruned model of the same architecture (needed for models
    without a config, such as timm's). Hugging Face models are rebuilt from the saved config.
    """
    directory = Path(directory)
    payload = json.loads((directory / RECORD_FILE).read_text())
    if payload.get("format") != FORMAT:
        raise RequestError(f"{directory / RECORD_FILE} has format {payload.get('format')!r}, expected {FORMAT}")
    if model is None:
        model = _rebuild(payload)
    if getattr(model, RECORD_ATTR, None):
        raise RequestError("load() needs an unpruned model to replay the saved plans onto")
    plans = [Plan.from_json(step) for step in payload["steps"]]
    check_fits(model, plans)  # every step, before the first one touches the model
    for plan in plans:
        apply_plan(model, plan)
    load_model(model, str(directory / WEIGHTS_FILE), strict=True)
    return model.eval()


def check_fits(model: nn.Module, plans: list[Plan]) -> None:
    """Raise unless each plan fits the layout the previous ones leave (simulated, not applied)."""
    blocks = attention_blocks(model)
    layout = [(b.num_heads, b.num_kv_heads, b.head_dim) for b in blocks]
    for n, plan in enumerate(plans, 1):
        if len(plan.layers) != len(blocks):
            raise RequestError(f"saved step {n} covers {len(plan.layers)} attention blocks, "
                               f"the model has {len(blocks)}")
        for block, lp in zip(blocks, plan.layers):
            h, kv, d = layout[block.layer]
            for kept, bound, what in ((lp.keep_heads, h, "heads"), (lp.keep_kv_heads, kv, "kv heads"),
                                      (lp.keep_dims, d, "dims")):
                if not kept or max(kept) >= bound or min(kept) < 0:
                    raise RequestError(f"saved step {n} does not fit: it keeps {what} {list(kept)}, the layer has {bound}",
                                       layer=block.layer, block=block.name)
            layout[block.layer] = (len(lp.keep_heads), len(lp.keep_kv_heads), len(lp.keep_dims))


def _rebuild(payload) -> nn.Module:
    if payload.get("original_config") is None:
        raise RequestError("this save has no config to rebuild from: pass model=<fresh unpruned model>")
    module_name, _, qualname = payload["model_class"].partition(":")
    cls = importlib.import_module(module_name)
    for part in qualname.split("."):
        cls = getattr(cls, part)
    config = cls.config_class.from_dict(payload["original_config"])
    model = cls(config)
    if payload.get("attn_implementation") and hasattr(model, "set_attn_implementation"):
        model.set_attn_implementation(payload["attn_implementation"])
    return model
