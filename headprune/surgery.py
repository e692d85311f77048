"""The one generic slice-and-sync, applied only to a plan that has been validated."""
from __future__ import annotations

import math

import torch
from torch import nn

from .blocks import AttentionBlock, resolve
from .config_overlay import ConfigOverlay
from .families import ConfigField
from .plan import LayerPlan, Plan


def quantities(lp: LayerPlan) -> dict[str, float | int | None]:
    """The values every mirrored attribute must hold once ``lp`` is applied."""
    heads, kv, d = len(lp.keep_heads), len(lp.keep_kv_heads), len(lp.keep_dims)
    return {
        "heads": heads, "kv_heads": kv, "head_dim": d, "groups": heads // kv, "q_width": heads * d,
        "rotary_dim": lp.rotary_dim,
        "rotary_fraction": None if lp.rotary_dim is None else lp.rotary_dim / d,
    }


def rotary_modules(model: nn.Module) -> list[nn.Module]:
    return [m for m in model.modules() if isinstance(getattr(m, "inv_freq", None), torch.Tensor)]


def apply(model: nn.Module, blocks: list[AttentionBlock], plan: Plan) -> None:
    with torch.no_grad():
        for block, lp in zip(blocks, plan.layers):
            if not lp.is_identity(block):
                _slice_block(block, lp)
        if plan.rope_pairs is not None:
            keep = list(plan.rope_pairs)
            for rot in rotary_modules(model):
                for name in ("inv_freq", "original_inv_freq"):
                    if isinstance(getattr(rot, name, None), torch.Tensor):
                        setattr(rot, name, getattr(rot, name)[keep].clone())
    for block, lp in zip(blocks, plan.layers):
        _sync_module(model, block, lp)
    _sync_config(model, blocks, plan)


# -- slicing -----------------------------------------------------------------------------

def _index(t: torch.Tensor, dim: int, idx: list[int]) -> torch.Tensor:
    return t.index_select(dim, torch.tensor(idx, dtype=torch.long, device=t.device)).clone()


def _replace(module: nn.Module, name: str, value: torch.Tensor) -> None:
    old = getattr(module, name)
    if isinstance(old, nn.Parameter):
        value = nn.Parameter(value, requires_grad=old.requires_grad)
    setattr(module, name, value)


def _take_rows(lin: nn.Linear, rows: list[int]) -> None:
    _replace(lin, "weight", _index(lin.weight, 0, rows))
    if lin.bias is not None:
        _replace(lin, "bias", _index(lin.bias, 0, rows))
    lin.out_features = len(rows)


def _take_cols(lin: nn.Linear, cols: list[int]) -> None:
    _replace(lin, "weight", _index(lin.weight, 1, cols))
    lin.in_features = len(cols)


def _slice_block(block: AttentionBlock, lp: LayerPlan) -> None:
    d, d_new = block.head_dim, len(lp.keep_dims)
    dims_changed = d_new != d
    rows = {
        "q": [h * d + i for h in lp.keep_heads for i in lp.keep_dims],
        "k": [g * d + i for g in lp.keep_kv_heads for i in lp.keep_dims],
        "v": [g * d + i for g in lp.keep_kv_heads for i in lp.keep_dims],
    }
    o_cols = rows["q"]
    located = block.qkv_rows()
    if dims_changed:
        _fold_scale(block, located, math.sqrt(d_new / d))
    if block.fused:
        lin = located["q"][0]
        _take_rows(lin, [located[r][1] + i for r in ("q", "k", "v") for i in rows[r]])
    else:
        for role, (lin, _, _) in located.items():
            _take_rows(lin, rows[role])
    _take_cols(block.o, o_cols)
    for _, lin in block.o_aligned():
        _take_rows(lin, o_cols)
    for path, param in block.per_head_params():
        owner, name = _owner(block.module, path)
        _replace(owner, name, _index(param, param.dim() - 1, list(lp.keep_heads)))
    if dims_changed:
        for _, norm in block.qk_norms():
            for name, p in list(norm.named_parameters(recurse=False)):
                _replace(norm, name, _index(p, 0, list(lp.keep_dims)))
            if hasattr(norm, "normalized_shape"):
                norm.normalized_shape = (d_new,)
        for attr in block.family.attrs:
            if attr.value == "scaling":
                owner, name = _owner(block.module, attr.path)
                setattr(owner, name, getattr(owner, name) * math.sqrt(d / d_new))
    if (wn := block.width_norm()) is not None:
        for name, p in list(wn.named_parameters(recurse=False)):
            _replace(wn, name, _index(p, 0, o_cols))
        if hasattr(wn, "normalized_shape"):
            wn.normalized_shape = (len(o_cols),)


def _fold_scale(block: AttentionBlock, located, factor: float) -> None:
    """Multiply q by sqrt(d'/d) so the kept dims see the original softmax scale even where the
    scale is recomputed from the head width (SDPA's default, a reload from config)."""
    norms = block.qk_norms()
    if norms and norms[0][0] == block.family.qk_norms[0]:
        for p in norms[0][1].parameters(recurse=False):
            p.mul_(factor)
        return
    lin, start, stop = located["q"]
    lin.weight[start:stop].mul_(factor)
    if lin.bias is not None:
        lin.bias[start:stop].mul_(factor)


def _owner(root: nn.Module, path: str):
    parent, _, name = path.rpartition(".")
    return (resolve(root, parent) if parent else root), name


# -- syncing -----------------------------------------------------------------------------

def _sync_module(model: nn.Module, block: AttentionBlock, lp: LayerPlan) -> None:
    values = quantities(lp)
    for attr in block.family.attrs:
        if attr.value == "scaling":
            continue  # adjusted relative to its old value while slicing
        owner, name = _owner(block.module, attr.path)
        setattr(owner, name, values[attr.value])
    if block.family.private_config:
        overlay = block.module.config
        if not isinstance(overlay, ConfigOverlay):
            overlay = block.module.config = ConfigOverlay(getattr(model, "config", overlay))
        for field in block.family.private_config:
            setattr(overlay, field.name, values[field.value])


def _sync_config(model: nn.Module, blocks: list[AttentionBlock], plan: Plan) -> None:
    config = getattr(model, "config", None)
    if config is None:
        return
    fields: dict[ConfigField, list] = {}
    for block, lp in zip(blocks, plan.layers):
        values = quantities(lp)
        for field in block.family.config_fields:
            fields.setdefault(field, []).append((block.stage, values[field.value]))
    for field, entries in fields.items():
        if field.per_stage:
            current = list(field.read(config))
            for stage in sorted({s for s, _ in entries}):
                stage_values = {v for s, v in entries if s == stage}
                if len(stage_values) == 1:
                    current[stage] = stage_values.pop()
            field.write(config, current)
        else:
            values = {v for _, v in entries}
            if len(values) == 1:
                field.write(config, values.pop())  # a field absent everywhere (head_dim) is added
