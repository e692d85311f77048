"""The one generic slice-and-sync, applied only to a plan that has been validated."""
from __future__ import annotations

import math
import re

import torch
from torch import nn

from .blocks import AttentionBlock, config_of, resolve, weight
from .config_overlay import ConfigOverlay
from .families import ConfigField, method_sources
from .families.spec import qkv_row_index
from .ownership import owns_config
from .plan import LayerPlan, Plan


def quantities(lp: LayerPlan) -> dict[str, float | int | None]:
    """The values every mirrored attribute must hold once ``lp`` is applied."""
    heads, kv, d = len(lp.keep_heads), len(lp.keep_kv_heads), len(lp.keep_dims)
    return {
        "heads": heads, "kv_heads": kv, "head_dim": d, "groups": heads // kv, "q_width": heads * d,
        "rotary_dim": lp.rotary_dim,
        "rotary_fraction": None if lp.rotary_dim is None else lp.rotary_dim / d,
    }


def is_rotary_table(name: str) -> bool:
    """RoPE frequency buffers: ``inv_freq``, ``original_inv_freq``, Gemma3's ``sliding_attention_inv_freq``..."""
    return name == "inv_freq" or name.endswith("_inv_freq")


# timm's axial RoPE for images (EVA-02): one cached table [tokens, sin per dim | cos per dim] for
# every block and head, the dims of each head in their interleaved pairs (2i, 2i + 1).
TIMM_SINCOS_TABLE = ("timm.layers.pos_embed_sincos.RotaryEmbeddingCat", "pos_embed")


def _is_timm_sincos(module: nn.Module, name: str) -> bool:
    cls = type(module)
    return (f"{cls.__module__}.{cls.__qualname__}", name) == TIMM_SINCOS_TABLE


def rotary_tables(model: nn.Module) -> list[tuple[nn.Module, str]]:
    """Every RoPE table of the model, as (owning module, buffer name): frequency tables
    (``inv_freq``: one entry per pair) and timm's cached sin/cos tables (one column per dim, twice)."""
    return [(m, name) for m in model.modules() for name, t in m.named_buffers(recurse=False)
            if is_rotary_table(name) or (_is_timm_sincos(m, name) and t is not None)]


def rotary_table_width(module: nn.Module, name: str, rotary_dim: int) -> int:
    """The last-axis size a table needs for heads rotating ``rotary_dim`` dims."""
    return 2 * rotary_dim if _is_timm_sincos(module, name) else rotary_dim // 2


def _slice_rotary_table(module: nn.Module, name: str, keep_pairs: list[int], rope, rotary_dim: int) -> None:
    table = getattr(module, name)
    if not _is_timm_sincos(module, name):
        setattr(module, name, table[keep_pairs].clone())
        return
    dims = sorted(i for p in keep_pairs for i in rope.pair_dims(p, rotary_dim))
    cols = dims + [rotary_dim + i for i in dims]  # [sin | cos], each one column per dim
    setattr(module, name, table[..., cols].clone())


def rotary_modules(model: nn.Module) -> list[nn.Module]:
    return list({id(m): m for m, _ in rotary_tables(model)}.values())


def apply(model: nn.Module, blocks: list[AttentionBlock], plan: Plan) -> None:
    # the RoPE layout as it is before any slicing (a block's widths are read from its weights)
    rope = next(((b.family.rope, b.rotary_dim) for b in blocks if b.family.rope is not None), None)
    with torch.no_grad():
        for block, lp in zip(blocks, plan.layers):
            if not lp.is_identity(block):
                _slice_block(block, lp)
        if plan.rope_pairs is not None:
            keep = list(plan.rope_pairs)
            for rot, name in rotary_tables(model):
                _slice_rotary_table(rot, name, keep, *rope)
    for block, lp in zip(blocks, plan.layers):
        _sync_module(model, block, lp)
    _sync_config(model, blocks, plan)
    _sync_head_index_lists(model, blocks, plan)


# -- slicing -----------------------------------------------------------------------------

def _index(t: torch.Tensor, dim: int, idx: list[int]) -> torch.Tensor:
    return t.index_select(dim, torch.tensor(idx, dtype=torch.long, device=t.device))  # a new tensor already


def _replace(module: nn.Module, name: str, value: torch.Tensor) -> None:
    old = getattr(module, name)
    if isinstance(old, nn.Parameter):
        value = nn.Parameter(value, requires_grad=old.requires_grad)
    setattr(module, name, value)


def _take_rows(lin: nn.Module, rows: list[int]) -> None:
    """Keep output rows ``rows`` (of ``weight(lin)``): an nn.Linear's rows, a Conv1D's columns."""
    conv1d = not isinstance(lin, nn.Linear)
    _replace(lin, "weight", _index(lin.weight, 1 if conv1d else 0, rows))
    if lin.bias is not None:
        _replace(lin, "bias", _index(lin.bias, 0, rows))
    if conv1d:
        lin.nf = len(rows)
    else:
        lin.out_features = len(rows)


def _take_cols(lin: nn.Module, cols: list[int]) -> None:
    """Keep input columns ``cols`` (of ``weight(lin)``): an nn.Linear's columns, a Conv1D's rows."""
    conv1d = not isinstance(lin, nn.Linear)
    _replace(lin, "weight", _index(lin.weight, 0 if conv1d else 1, cols))
    if conv1d:
        lin.nx = len(cols)
    else:
        lin.in_features = len(cols)


def _kept_rows(block: AttentionBlock, lp: LayerPlan) -> dict[str, list[int]]:
    """Per role, the old rows the pruned projection keeps, in the order the new layout needs."""
    located = block.qkv_rows()
    keep = {"q": lp.keep_heads, "k": lp.keep_kv_heads, "v": lp.keep_kv_heads}
    old = {role: [r for h in keep[role] for r in located[role].of(h, lp.keep_dims)] for role in keep}
    if not block.fused:
        return old
    # the new fused rows follow the same layout with the new counts: place each kept row there
    new_index = qkv_row_index(block.family.qkv_layout, len(lp.keep_heads), len(lp.keep_kv_heads), len(lp.keep_dims))
    order = [0] * sum(len(old[role]) for role in new_index)
    for role in new_index:
        for new_row, old_row in zip(new_index[role], old[role]):
            order[new_row] = old_row
    return {"qkv": order, **{role: rows for role, rows in old.items() if role not in new_index}}


def _slice_block(block: AttentionBlock, lp: LayerPlan) -> None:
    d, d_new = block.head_dim, len(lp.keep_dims)
    dims_changed = d_new != d
    located_o = block.o_cols()
    o_cols = [c for h in lp.keep_heads for c in located_o.of(h, lp.keep_dims)]
    kept = _kept_rows(block, lp)
    refold = dims_changed and block.family.scale_follows_head_dim
    if refold:
        _fold_scale(block, math.sqrt(d_new / d))
    _rewrite_forward(block)
    for role, rows in kept.items():
        _take_rows(block.projections()[role], rows)
    _take_cols(block.o, o_cols)
    for _, lin in block.o_aligned():
        _take_rows(lin, o_cols)
    keep = {"q": lp.keep_heads, "k": lp.keep_kv_heads, "v": lp.keep_kv_heads}
    for spec, owner, part in block.aligned():  # laid out like the role's rows: (head, dim) order
        rows = [h * d + i for h in keep[spec.role] for i in lp.keep_dims]
        if isinstance(part, nn.Linear):
            _take_rows(part, rows)
        else:
            _replace(owner, spec.path.rpartition(".")[2], _index(part, 0, rows))
    for spec, extra in block.per_head_params():
        owner, name = _owner(block.module, spec.path)
        heads = list(lp.keep_kv_heads if spec.kv else lp.keep_heads)
        if isinstance(extra, nn.ModuleList):
            kept = nn.ModuleList([extra[h] for h in heads])
            kept.training = extra.training  # a new container starts in train mode; its members keep theirs
            setattr(owner, name, kept)
        elif isinstance(extra, nn.Linear):
            _take_rows(extra, heads)
        else:
            _replace(owner, name, _index(extra, extra.dim() + spec.axis if spec.axis < 0 else spec.axis, heads))
    if dims_changed:
        for _, norm in block.qk_norms():
            for sub in norm.modules():  # one norm, or one per head (StableLM)
                for name, p in list(sub.named_parameters(recurse=False)):
                    _replace(sub, name, _index(p, p.dim() - 1, list(lp.keep_dims)))
                if hasattr(sub, "normalized_shape"):
                    sub.normalized_shape = (d_new,)
        for attr in block.family.attrs if refold else ():
            if attr.value == "scaling":
                owner, name = _owner(block.module, attr.path)
                setattr(owner, name, getattr(owner, name) * math.sqrt(d / d_new))
    if (wn := block.width_norm()) is not None:
        for name, p in list(wn.named_parameters(recurse=False)):
            _replace(wn, name, _index(p, 0, o_cols))
        if hasattr(wn, "normalized_shape"):
            wn.normalized_shape = (len(o_cols),)


def _fold_scale(block: AttentionBlock, factor: float) -> None:
    """Multiply q by sqrt(d'/d) so the kept dims see the original softmax scale even where the
    scale is recomputed from the head width (SDPA's default, a reload from config)."""
    norms = block.qk_norms()
    if norms and norms[0][0] == block.family.qk_norms[0]:
        for p in norms[0][1].parameters():
            p.mul_(factor)
        return
    q = block.qkv_rows()["q"]
    rows = torch.tensor(q.rows, dtype=torch.long)
    weight(q.lin)[rows] *= factor
    if q.lin.bias is not None:
        q.lin.bias[rows] *= factor
    for spec, _, part in block.aligned():
        if spec.fold:
            for t in (part.weight, part.bias) if isinstance(part, nn.Linear) else (part,):
                if t is not None:
                    t.mul_(factor)


_REWRITTEN: dict[tuple[type, tuple], type] = {}


def _rewrite_forward(block: AttentionBlock) -> None:
    """Give the module a subclass whose forward has the family's source rewrites applied
    (checked against the installed source while planning, before any surgery)."""
    fam = block.family
    if fam.forward_rewrites and not getattr(type(block.module), "_headprune_rewritten", False):
        block.module.__class__ = rewritten_class(type(block.module), fam.forward_rewrites, fam.rewritten_methods)


def rewritten_class(cls: type, rewrites: tuple[tuple[str, str], ...], methods: tuple[str, ...] = ("forward",)) -> type:
    """``cls`` with each ``(old, new)`` replaced in the source of ``methods`` (every occurrence,
    in every method that has it); raises RuntimeError when no method contains ``old`` any more
    (a release whose layout nobody described)."""
    key = (cls, rewrites, methods)
    if key not in _REWRITTEN:
        import sys

        sources = method_sources(cls, methods)
        for old, new in rewrites:
            if not any(old in src for src in sources.values()):
                raise RuntimeError(f"{cls.__qualname__}.{'/'.join(methods)} no longer contains {old!r}")
            sources = {m: src.replace(old, new) for m, src in sources.items()}
        body = {"_headprune_rewritten": True, "__module__": cls.__module__, "__qualname__": cls.__qualname__}
        for m, src in sources.items():
            namespace: dict = {}
            exec(compile(src, f"<headprune: {cls.__qualname__}.{m}, reshaped with -1>", "exec"),
                 vars(sys.modules[cls.__module__]), namespace)
            body[m] = namespace[m]
        _REWRITTEN[key] = type(cls.__name__, (cls,), body)
    return _REWRITTEN[key]


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


def _sync_head_index_lists(model: nn.Module, blocks: list[AttentionBlock], plan: Plan) -> None:
    """Renumber model-level ``[layer, head]`` lists (Whisper's alignment heads) with the kept heads;
    a new list is written, so a generation config shared with another model is not changed."""
    for block, lp in zip(blocks, plan.layers):
        for ref in block.family.head_index_lists:
            found = re.search(ref.block, block.name)
            owner, leaf = _owner(model, ref.path)
            pairs = getattr(owner, leaf, None) if owner is not None else None
            if found is None or not pairs:
                continue
            layer, new = int(found.group(1)), {old: i for i, old in enumerate(lp.keep_heads)}
            setattr(owner, leaf, [[l, h] if l != layer else [l, new[h]] for l, h in pairs
                                  if l != layer or h in new])


def _sync_config(model: nn.Module, blocks: list[AttentionBlock], plan: Plan) -> None:
    """Write each field into the config its blocks read (a composite model's sub-config, never
    the composite's top level), when every block described by it agrees."""
    if not owns_config(model):
        return  # a bare attention module refers to its model's config; it does not own it
    fields: dict[tuple[int, ConfigField], list] = {}
    configs: dict[int, object] = {}
    for block, lp in zip(blocks, plan.layers):
        config = config_of(model, block)
        if config is None:
            continue
        configs[id(config)] = config
        values = quantities(lp)
        for field in block.family.config_fields:
            fields.setdefault((id(config), field), []).append((block.stage, values[field.value]))
    for (config_id, field), entries in fields.items():
        config = configs[config_id]
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
