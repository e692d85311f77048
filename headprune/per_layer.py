"""``per_layer_config`` (transformers 5.24): per-layer head shapes where layers differ.

A non-uniformly pruned decoder has no single ``num_key_value_heads``; the global field keeps
its old value. transformers' cache machinery (``get_head_shapes``: a static cache initialised
early with ``prefill_chunk_size``, executorch export) reads ``config.per_layer_config`` to size
each layer, so headprune writes the per-layer values there (verified: a static cache with
``prefill_chunk_size`` fails without them, and matches the dynamic cache with them).

``allow_global_per_layer_attribute_access`` is set so code that still reads the global field
gets the old value, as before, instead of an error. The stock model classes do not build
layers from ``per_layer_config``, so such a model is still not rebuildable by
``from_pretrained``; :mod:`headprune.stock_format` marks it.
"""
from __future__ import annotations

from torch import nn

from .blocks import AttentionBlock

_VALUES = {"heads": lambda b: b.num_heads, "kv_heads": lambda b: b.num_kv_heads, "head_dim": lambda b: b.head_dim}


def supported(config, blocks: list[AttentionBlock]) -> bool:
    """One attention block per decoder layer and a config that knows per_layer_config."""
    return (isinstance(getattr(type(config), "per_layer_config", None), property)
            and getattr(config, "num_hidden_layers", None) == len(blocks)
            and all(b.stage is None for b in blocks))


def write(model: nn.Module, blocks: list[AttentionBlock]) -> None:
    config = model.config
    if not supported(config, blocks):
        return
    fields = {f for b in blocks for f in b.family.config_fields
              if not f.per_stage and "." not in f.name and f.value in _VALUES}
    differing = [f for f in fields if len({_VALUES[f.value](b) for b in blocks}) > 1]
    config.__dict__.pop("per_layer_config", None)  # a stock marker is re-placed afterwards
    if differing:
        config.allow_global_per_layer_attribute_access = True
        config.per_layer_config = {b.layer: {f.name: _VALUES[f.value](b) for f in differing} for b in blocks}
    elif config.is_heterogeneous and config.per_layer_attributes <= {f.name for f in fields}:
        config.per_layer_config = None
        config.__dict__.pop("allow_global_per_layer_attribute_access", None)
