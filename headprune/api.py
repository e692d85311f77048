"""The public entry point: ``prune``."""
from __future__ import annotations

import dataclasses
import fnmatch
import itertools
import warnings
import weakref
from collections.abc import Mapping

import torch
from torch import nn

from . import importance, per_layer, stock_format, surgery
from .blocks import AttentionBlock, attention_blocks, discover
from .errors import NothingRemovedWarning, ParametersReplacedWarning, RequestError, StockFormatWarning, UnknownLayoutError, UnsupportedRopeError
from .plan import (
    MODES,
    Plan,
    check_gqa,
    check_multiple_of,
    check_ratio,
    plan_head_dims,
    plan_heads,
    select_head_dims,
    select_heads,
)
from .ownership import owns_config, take_private_config
from .report import LayerReport, PruneReport, count_parameters
from .weights_check import check_ties
from .wrappers import unwrap

RECORD_ATTR = "_headprune_record"


def prune(
    model: nn.Module,
    heads: Mapping[int, list[int]] | None = None,
    *,
    mode: str = "heads",
    ratio: float | None = None,
    dims=None,
    gqa: str = "equal",
    allow_inexact: bool = False,
    multiple_of: int | None = None,
    modules=None,
) -> PruneReport:
    """Prune attention heads (``mode="heads"``) or head widths (``mode="head_dims"``) in place.

    - ``heads={layer: [query head ids to remove]}`` or ``dims={layer: [dim ids]}`` (or one list
      of dims for every layer; a bare list of heads is refused as ambiguous), in the model's
      current numbering, any order, each id once; or ``ratio`` (any real number type) to let headprune
      choose by L2 weight magnitude (``gqa="equal"`` removes the same number of query heads per
      kv group, ``gqa="groups"`` removes whole kv groups). A ratio applies per layer, rounds half
      up and never takes a layer's last head (kv group, dim or RoPE pair).
    - ``multiple_of`` (ratio requests; default 8): kept head widths are rounded to multiples of
      it, so the pruned model stays on the fast kernels' alignment (head_dim 64 -> 36 is slower
      than dense on GPUs). Each rounding is listed in ``report.notes``; ``multiple_of=1`` gives
      the exact ratio semantics. Explicit requests are carried out exactly as spelled.
    - Every attribute, private config copy and (when all layers agree) config field is synced.
    - ``modules``: prune only these towers or blocks of a composite model: module names
      (``"vision_model"`` covers every block under it) or fnmatch globs (``"*.encoder.*"``).
      Layer ids stay the model's own (``attention_blocks(model)``).
    - The whole request is validated first: a :class:`headprune.PruningError` leaves the model
      bit-identical. The report lists what was not pruned and why (``report.not_pruned``).
    """
    model = unwrap(model)
    notes: list[str] = []
    plan, blocks = make_plan(model, heads=heads, mode=mode, ratio=ratio, dims=dims, gqa=gqa,
                             allow_inexact=allow_inexact, multiple_of=multiple_of, notes=notes, modules=modules)
    selected = select_blocks(blocks, modules)
    report = apply_plan(model, plan, blocks, not_selected=[b for b in blocks if b not in selected])
    aligned = (DEFAULT_MULTIPLE_OF if multiple_of is None else multiple_of) if ratio is not None else 1
    report = dataclasses.replace(report, multiple_of=aligned, notes=tuple(notes))
    if ratio is not None and check_ratio(ratio) > 0 and not report.changed:
        why = (f"keeping widths at multiples of {aligned} keeps every unit (multiple_of=1 for the exact ratio)"
               if notes else f"it rounds to 0 {'heads' if mode == 'heads' else 'dims'} in every layer (a ratio r "
               "removes round_half_up(n * r) of a layer's n units)")
        warnings.warn(f"ratio={ratio} removes nothing: {why}", NothingRemovedWarning, stacklevel=2)
    return report


# Kept head widths of ratio requests stay multiples of this by default (tensor-core tiles, SDPA kernels).
DEFAULT_MULTIPLE_OF = 8


def select_blocks(blocks: list[AttentionBlock], modules) -> list[AttentionBlock]:
    """The blocks a ``modules=`` selection covers (every block for None)."""
    if modules is None:
        return list(blocks)
    patterns = [modules] if isinstance(modules, str) else list(modules)
    if not patterns:
        raise RequestError("modules= is empty: name at least one tower or block (or pass None for all)")
    chosen: set[int] = set()
    for pattern in patterns:
        if not isinstance(pattern, str) or not pattern:
            raise RequestError(f"modules= takes module names or globs, got {pattern!r}")
        hits = {b.layer for b in blocks if b.name == pattern or b.name.startswith(pattern + ".")
                or fnmatch.fnmatchcase(b.name, pattern)}
        if not hits:
            raise RequestError(f"modules={pattern!r} matches no attention block (they are named like "
                               f"{blocks[0].name!r} ... {blocks[-1].name!r})")
        chosen |= hits
    return [b for b in blocks if b.layer in chosen]


def make_plan(model, *, heads=None, mode="heads", ratio=None, dims=None, gqa="equal",
              allow_inexact=False, multiple_of=None,
              notes: list[str] | None = None, modules=None) -> tuple[Plan, list[AttentionBlock]]:
    """Validate a request and return its plan without touching the model.

    ``multiple_of`` applies to ratio requests (default :data:`DEFAULT_MULTIPLE_OF`); ``notes``
    collects the roundings it made; ``modules`` restricts it to some towers or blocks."""
    if mode not in MODES:
        raise RequestError(f"mode must be one of {MODES}, got {mode!r}")
    explicit = heads if mode == "heads" else dims
    other = dims if mode == "heads" else heads
    if other is not None:
        raise RequestError(f"mode={mode!r} takes {'heads' if mode == 'heads' else 'dims'}=, not "
                           f"{'dims' if mode == 'heads' else 'heads'}=")
    if (explicit is None) == (ratio is None):
        raise RequestError("give exactly one of an explicit selection (heads=/dims=) or ratio=")
    model = unwrap(model)
    gqa = check_gqa(gqa)  # also without ratio=: a typo must not pass unnoticed
    if ratio is not None:
        ratio = check_ratio(ratio)
    if multiple_of is not None:
        multiple_of = check_multiple_of(multiple_of)
        if ratio is None and multiple_of != 1:
            raise RequestError("multiple_of rounds ratio requests; an explicit selection is carried out as given")
    align = DEFAULT_MULTIPLE_OF if multiple_of is None else multiple_of
    blocks = attention_blocks(model)
    selected = select_blocks(blocks, modules)
    if ratio is not None:
        _check_scorable(selected)
        if mode == "heads":
            scores = {b.layer: importance.head_and_group_scores(b) for b in selected}  # one pass over the weights
            explicit = select_heads(selected, ratio, {k: h for k, (h, _) in scores.items()},
                                    {k: g for k, (_, g) in scores.items()}, gqa, multiple_of=align, notes=notes)
        else:
            explicit = select_head_dims(selected, ratio, {b.layer: importance.dim_scores(b) for b in selected},
                                        multiple_of=align, notes=notes)
    planner = plan_heads if mode == "heads" else plan_head_dims
    plan = planner(blocks, explicit, allow_inexact=allow_inexact)
    _check_selected(blocks, selected, plan)
    _check_rewrites(blocks, plan)
    if plan.rope_pairs is not None:
        _check_rotary(model, blocks)
    check_ties(model, blocks, plan)
    return plan, blocks


def _check_selected(blocks, selected, plan) -> None:
    """Under ``modules=``, only selected blocks change."""
    chosen = {b.layer for b in selected}
    for block, lp in zip(blocks, plan.layers):
        if block.layer not in chosen and not lp.is_identity(block):
            raise RequestError(f"is not among the blocks selected by modules= (layers {sorted(chosen)})",
                               layer=block.layer, block=block.name)


def _check_rewrites(blocks, plan) -> None:
    """The forward rewrites a family needs still match the installed source (before any surgery)."""
    for block, lp in zip(blocks, plan.layers):
        if block.family.forward_rewrites and not lp.is_identity(block):
            try:
                surgery.rewritten_class(type(block.module), block.family.forward_rewrites,
                                        block.family.rewritten_methods)
            except (RuntimeError, OSError, TypeError) as exc:
                raise UnknownLayoutError(f"its forward cannot be adapted to fewer heads: {exc}",
                                         layer=block.layer, block=block.name) from None


def _check_scorable(blocks: list[AttentionBlock]) -> None:
    """ratio= scores heads by weight magnitude, which needs weights with values."""
    for block in blocks:
        for role, lin in block.projections().items():
            if lin.weight.is_meta:
                raise RequestError(
                    f"ratio= chooses heads by weight magnitude, but the {role} weights are on the meta device "
                    "(no values yet); load the weights first, or pass heads=/dims= explicitly",
                    layer=block.layer, block=block.name)


# Rope types whose inv_freq is computed once at load, one frequency per pair, so slicing it is
# exact (checked on tiny Llamas). "dynamic" and "longrope" recompute it from the config at run time.
STATIC_ROPE_TYPES = frozenset({"default", "linear", "llama3", "yarn"})


def _check_rotary(model, blocks) -> None:
    block = next(b for b in blocks if b.family.rope is not None)
    half = block.rotary_dim // 2
    tables = surgery.rotary_tables(model)
    sizes = {getattr(m, name).shape[-1] for m, name in tables if surgery.is_rotary_table(name)}
    if len(sizes) == 1 and 0 < (found := sizes.pop()) < half:
        # e.g. Phi-3 with partial_rotary_factor 0.75 (Phi-4-mini): the rotary width comes from the table
        raise UnsupportedRopeError(
            f"RoPE covers only {2 * found} of the {block.head_dim} dims of each head here (partial rotary, e.g. "
            f"partial_rotary_factor={2 * found / block.head_dim:g}), but headprune's {block.family.name!r} "
            "description rotates the whole head; head_dims pruning is refused for this model (heads mode works)",
            layer=block.layer, block=block.name)
    if not tables or any(getattr(m, name).shape[-1] != surgery.rotary_table_width(m, name, block.rotary_dim)
                         for m, name in tables):
        raise UnknownLayoutError(
            f"expected rotary tables for {half} frequencies, found "
            f"{ {name: tuple(getattr(m, name).shape) for m, name in tables} }; head-dim pruning needs to slice them "
            "(a table rebuilt at run time, such as timm's RoPE with dynamic_img_size, cannot stay sliced)")
    for rot in surgery.rotary_modules(model):
        if getattr(rot, "rotate_half", False) and block.family.rope.interleaved:
            raise UnsupportedRopeError(
                f"{type(rot).__name__} rotates half-split pairs (rotate_half=True), but {block.family.name!r} "
                "describes interleaved pairs (2i, 2i + 1); head_dims pruning is refused for this model (heads mode "
                "works)", layer=block.layer, block=block.name)
        kind = getattr(rot, "rope_type", "default")
        kinds = set(kind.values()) if isinstance(kind, dict) else {kind}
        if not kinds <= STATIC_ROPE_TYPES:
            raise UnsupportedRopeError(
                f"{type(rot).__name__} uses rope_type {sorted(kinds - STATIC_ROPE_TYPES)}, which recomputes its "
                "frequencies from the config at run time, so sliced frequencies would not stay sliced")


def apply_plan(model: nn.Module, plan: Plan, blocks: list[AttentionBlock] | None = None, *,
               replaying: bool = False, not_selected=()) -> PruneReport:
    """Carry out a validated plan (also used to replay a saved record, ``replaying=True``)."""
    model = unwrap(model)
    blocks = blocks if blocks is not None else attention_blocks(model)
    before = [(b.num_heads, b.num_kv_heads, b.head_dim) for b in blocks]
    params_before = count_parameters(model)
    # Weak references: holding the old weights would keep every replaced one alive until the end (the
    # peak memory of a prune would grow by the pruned weights); a dead reference means replaced and freed.
    old_params = [(name, weakref.ref(p), p.grad is not None) for name, p in model.named_parameters()]
    if not all(lp.is_identity(b) for b, lp in zip(blocks, plan.layers)):
        _record(model, plan)  # an empty request touches nothing, not even the config
        if owns_config(model):
            take_private_config(model)
        # Ordinary tensors even when called under torch.inference_mode(): the model must stay trainable.
        with torch.inference_mode(False):
            surgery.apply(model, blocks, plan)
    stock = None
    record = getattr(model, RECORD_ATTR, None)
    if record is not None and owns_config(model):
        per_layer.write(model, blocks)
        stock = stock_format.mark(model, any(step.get("rope_pairs") is not None for step in record["steps"]))
    if stock is not None and stock.config_rejected and not replaying:
        warnings.warn(f"save_pretrained will fail for this pruned model ({stock.reason}); use headprune.save and "
                      "headprune.load", StockFormatWarning, stacklevel=3)
    now = {id(p) for p in model.parameters()}
    gone = [(name, had_grad) for name, ref, had_grad in old_params if (p := ref()) is None or id(p) not in now]
    replaced = tuple(name for name, _ in gone)
    layers = tuple(
        LayerReport(layer=b.layer, name=b.name, family=b.family.name,
                    heads_before=h, heads_after=b.num_heads, kv_heads_before=kv, kv_heads_after=b.num_kv_heads,
                    head_dim_before=d, head_dim_after=b.head_dim, kept_heads=lp.keep_heads,
                    kept_kv_heads=lp.keep_kv_heads, kept_dims=lp.keep_dims)
        for b, lp, (h, kv, d) in zip(blocks, plan.layers, before))
    if any(had_grad for _, had_grad in gone):
        warnings.warn(
            f"{len(replaced)} parameters that hold gradients were replaced by smaller ones; an optimizer (or EMA, "
            "LR scheduler state) created before pruning still holds the old tensors and would stop training them: "
            "build it again from model.parameters() (report.replaced_parameters lists them)",
            ParametersReplacedWarning, stacklevel=3)
    not_pruned = tuple((b.name, "not selected by modules=") for b in not_selected) + tuple(
        (r.name, r.reason) for r in discover(model)[1])
    return PruneReport(plan.mode, layers, params_before, count_parameters(model), replaced,
                       None if stock is None else stock.reason, not_pruned=not_pruned)


_STEP_ORDER = itertools.count()


def _record(model: nn.Module, plan: Plan) -> None:
    """Keep the original config and every plan, so a saved model can be rebuilt exactly.

    The record lives on the model that owns the blocks (wrappers are seen through). Each step
    carries a process-wide sequence number, so steps recorded on a submodule (a bare attention
    module pruned on its own) can be replayed in the order they happened."""
    record = getattr(model, RECORD_ATTR, None)
    if record is None:
        config = model.config if owns_config(model) else None
        record = {"original_config": config.to_dict() if config is not None else None, "steps": []}
        object.__setattr__(model, RECORD_ATTR, record)
    record["steps"].append({**plan.to_json(), "order": next(_STEP_ORDER)})
