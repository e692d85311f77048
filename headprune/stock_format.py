"""Stock ``save_pretrained`` + ``from_pretrained``: exact where transformers can rebuild the pruned
model from its config, loud where it cannot. Never silently wrong.

After each prune the synced config is tried the way ``from_pretrained`` would use it: the model
class is built from it on the meta device (no memory, no weights) and every weight shape and
mirrored attribute is compared with the pruned model. RoPE head-dim pruning is never
representable: transformers recomputes the frequencies from the config, not the kept pairs.

When the config cannot describe the model, it carries a marker that makes any stock load fail
with a message naming headprune: ``per_layer_config`` (transformers 5.24 heterogeneity) holding
an entry whose layer key is that message. Stock loading turns layer keys into ints, so the load
stops with ``invalid literal for int() ... 'pruned by headprune: ...'``. On the live config the
entry sits in the instance dict, under the class's ``per_layer_config`` property, so nothing at
run time reads it; ``to_dict`` (hence ``save_pretrained``) writes it out.

Releases without ``per_layer_config`` (transformers 4.x) ignore that entry. There a config that
cannot describe the model mostly shows in the weight shapes, and stock loading refuses the
mismatch; sliced RoPE frequencies do not (the shapes agree, the frequencies are recomputed:
verified silently wrong on 4.57.6), so the marker becomes the RoPE type: ``rope_scaling``
(4.x) names the message as its ``rope_type``, and building the model from it raises
``KeyError: 'pruned by headprune: ...'``. The live model read its RoPE type when it was built;
headprune.load rebuilds from the original config.
"""
from __future__ import annotations

import math
from typing import NamedTuple

import torch
from torch import nn

from .blocks import attention_blocks
from .ownership import owns_config

MARKER_FIELD = "per_layer_config"
MARKER_PREFIX = "pruned by headprune"


def marker_message(reason: str) -> str:
    # Python shows only the first 200 characters of the key in the error: the way out comes first.
    return (f"{MARKER_PREFIX}: load with headprune.load(directory) after headprune.save(model, directory); "
            f"from_pretrained cannot rebuild it from config.json: {reason}")


class StockProblem(NamedTuple):
    reason: str
    config_rejected: bool  # transformers' config validation refuses the values: save_pretrained itself fails


def stock_problem(model: nn.Module, rope_sliced: bool) -> StockProblem | None:
    """Why ``from_pretrained`` could not rebuild ``model`` exactly from its config (None: it can)."""
    if rope_sliced:
        return StockProblem("RoPE frequencies were sliced to the kept dim pairs, and transformers recomputes "
                            "them from head_dim", False)
    config = model.config
    data = config.to_dict()
    data.pop(MARKER_FIELD, None)  # the marker, or per-layer shapes the stock classes do not read
    data.pop("allow_global_per_layer_attribute_access", None)
    try:
        rebuilt_config = type(config).from_dict(data)
    except Exception as exc:  # noqa: BLE001 - any refusal by transformers is the answer
        return StockProblem(" ".join(f"{type(config).__name__} rejects the pruned values: {type(exc).__name__}: "
                                     f"{exc}".split()), True)
    try:
        with torch.device("meta"), _no_init_weights():
            fresh = type(model)(rebuilt_config)
    except Exception as exc:  # noqa: BLE001
        return StockProblem(" ".join(f"{type(model).__name__} cannot be built from the pruned config: "
                                     f"{type(exc).__name__}: {exc}".split()), False)
    want = {k: tuple(v.shape) for k, v in model.state_dict().items()}
    got = {k: tuple(v.shape) for k, v in fresh.state_dict().items()}
    for key in sorted(want.keys() | got.keys()):
        if want.get(key) != got.get(key):
            return StockProblem(f"the config rebuilds {key} as {list(got[key]) if key in got else 'absent'}, "
                                f"the pruned model has {list(want[key]) if key in want else 'none'}", False)
    for block in attention_blocks(model):
        twin = fresh.get_submodule(block.name)
        for attr in block.family.attrs:
            a, b = _read(block.module, attr.path), _read(twin, attr.path)
            if not (a == b or (isinstance(a, float) and isinstance(b, float) and math.isclose(a, b, rel_tol=1e-9))):
                return StockProblem(f"the config rebuilds {block.name}.{attr.path} as {b}, the pruned model has {a}",
                                    False)
    return None


def _mark_rope_type(config, message: str) -> None:
    """Releases without ``per_layer_config``: the RoPE type (every table of it) becomes the message."""
    import inspect

    # the field this release's config class reads (an unknown keyword is kept as a mere attribute)
    field = "rope_parameters" if "rope_parameters" in inspect.signature(type(config).__init__).parameters \
        else "rope_scaling"
    current = config.__dict__.get(field)
    if isinstance(current, dict) and current and all(isinstance(v, dict) for v in current.values()):
        config.__dict__[field] = {k: {**v, "rope_type": message} for k, v in current.items()}  # one per layer type
    else:
        config.__dict__[field] = {**(current or {}), "rope_type": message}


def _no_init_weights():
    """transformers' switch that skips weight initialisation (shapes are all we compare)."""
    try:
        from transformers.initialization import no_init_weights  # transformers 5
    except ImportError:
        from transformers.modeling_utils import no_init_weights  # 4.x
    return no_init_weights()


def _read(module, dotted: str):
    for part in dotted.split("."):
        module = getattr(module, part)
    return module


def mark(model: nn.Module, rope_sliced: bool) -> StockProblem | None:
    """Set or clear the stock-load marker on the model's own config; return the problem, if any."""
    if not owns_config(model):
        return None
    config = model.config
    problem = stock_problem(model, rope_sliced)
    config.__dict__.pop(MARKER_FIELD, None)
    if problem is None:
        return None
    message = marker_message(problem.reason)
    if not isinstance(getattr(type(config), MARKER_FIELD, None), property):
        if rope_sliced:
            _mark_rope_type(config, message)
        return problem
    if getattr(config, "is_heterogeneous", False):
        # per_layer_config is serialised from the heterogeneity spec: the marker joins the first
        # layer's entry as an attribute no other layer has and the global config lacks, which
        # stock loading refuses ("The following attributes are missing: ['pruned by headprune: ...']").
        overrides = config._heterogeneity_spec.per_layer_overrides
        overrides.setdefault(min(overrides), {})[message] = True
    else:
        config.__dict__[MARKER_FIELD] = {message: {}}
    return problem
