"""What each block keeps: built from a request, validated as a whole before any surgery."""
from __future__ import annotations

import math
import numbers
import operator
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import torch

from .blocks import AttentionBlock
from .errors import (
    EmptyLayerError,
    GQAPairingError,
    HeadIndexError,
    InexactPruningError,
    LayerIndexError,
    RefusedLayoutError,
    RequestError,
    RopePairError,
    TiedHeadsError,
)

MODES = ("heads", "head_dims")
GQA_STRATEGIES = ("equal", "groups")


@dataclass(frozen=True)
class LayerPlan:
    """Indices (in the block's current numbering) that survive, in their original order."""

    layer: int
    keep_heads: tuple[int, ...]
    keep_kv_heads: tuple[int, ...]
    keep_dims: tuple[int, ...]       # kept dims of every head, in q, k and v alike
    rotary_dim: int | None = None    # rotated dims per head after surgery (RoPE families)

    def is_identity(self, block: AttentionBlock) -> bool:
        return (self.keep_heads == tuple(range(block.num_heads))
                and self.keep_kv_heads == tuple(range(block.num_kv_heads))
                and self.keep_dims == tuple(range(block.head_dim)))

    def to_json(self) -> dict:
        return {"layer": self.layer, "keep_heads": list(self.keep_heads),
                "keep_kv_heads": list(self.keep_kv_heads), "keep_dims": list(self.keep_dims),
                "rotary_dim": self.rotary_dim}

    @classmethod
    def from_json(cls, data: Mapping) -> LayerPlan:
        return cls(layer=int(data["layer"]), keep_heads=tuple(data["keep_heads"]),
                   keep_kv_heads=tuple(data["keep_kv_heads"]), keep_dims=tuple(data["keep_dims"]),
                   rotary_dim=data.get("rotary_dim"))


@dataclass(frozen=True)
class Plan:
    mode: str
    layers: tuple[LayerPlan, ...]           # one per block, in block order
    rope_pairs: tuple[int, ...] | None = None  # kept frequency indices (head_dims in RoPE models)

    def to_json(self) -> dict:
        return {"mode": self.mode, "layers": [lp.to_json() for lp in self.layers],
                "rope_pairs": None if self.rope_pairs is None else list(self.rope_pairs)}

    @classmethod
    def from_json(cls, data: Mapping) -> Plan:
        pairs = data.get("rope_pairs")
        return cls(mode=data["mode"], layers=tuple(LayerPlan.from_json(lp) for lp in data["layers"]),
                   rope_pairs=None if pairs is None else tuple(pairs))


# -- request normalisation -------------------------------------------------------------

def _as_int(value) -> int | None:
    """``value`` as an int if it is an integer of any kind (numpy, torch), else None."""
    if isinstance(value, bool):
        return None
    try:
        return operator.index(value)
    except TypeError:
        return None


def _layer_index(blocks: Sequence[AttentionBlock], key) -> int:
    if isinstance(key, str) and key.lstrip("-").isdigit():
        key = int(key)  # JSON round trips turn layer keys into strings
    index = _as_int(key)
    if index is None:
        raise RequestError(f"layer keys must be integers, got {key!r}")
    key, n = index, len(blocks)
    if not -n <= key < n:
        raise LayerIndexError(f"layer {key} does not exist; the model has {n} attention blocks (0..{n - 1})",
                              layer=key)
    return key % n


def _indices(values, *, layer: AttentionBlock, what: str, bound: int, error=HeadIndexError) -> set[int]:
    if (isinstance(values, (str, bytes, Mapping)) or not isinstance(values, Iterable) or _as_int(values) is not None
            or (isinstance(values, torch.Tensor) and values.dim() == 0)):  # one id, or a mapping: ambiguous
        raise RequestError(f"{what} to remove must be a list of integers, got {values!r}",
                           layer=layer.layer, block=layer.name)
    out = set()
    for raw in values:
        v = _as_int(raw)
        if v is None:
            raise RequestError(f"{what} ids must be integers, got {raw!r}", layer=layer.layer, block=layer.name)
        if not 0 <= v < bound:
            raise error(f"{what} {v} is out of range: this layer has {bound} {what}s (0..{bound - 1})",
                        layer=layer.layer, block=layer.name)
        if v in out:
            # Most likely a typo for another id: dropping it silently would prune something else.
            raise RequestError(f"{what} {v} is listed twice", layer=layer.layer, block=layer.name)
        out.add(v)
    return out


def _per_layer(blocks, request, *, what: str) -> dict[int, object]:
    """``{layer: ids}`` from a mapping (negative keys allowed); for dims also one list for every layer.

    A bare list of heads is refused: ``prune(model, [1, 5])`` reads as "layers 1 and 5" as
    easily as "heads 1 and 5 of every layer". Dims are different: RoPE models must remove the
    same pairs in every layer, so one list for all layers is the common request."""
    if not isinstance(request, Mapping) and what == "head":
        raise RequestError(
            f"heads= takes a mapping {{layer: [head ids]}}, got {request!r}; to remove the same heads "
            "from every layer, pass {layer: ids for layer in range(len(headprune.attention_blocks(model)))}")
    if isinstance(request, Mapping):
        out: dict[int, object] = {}
        for key, ids in request.items():
            idx = _layer_index(blocks, key)
            if idx in out:
                raise RequestError(f"layer {idx} is given twice (as {key!r})", layer=idx)
            out[idx] = ids
        return out
    return {b.layer: request for b in blocks}


# -- whole heads -------------------------------------------------------------------------

def plan_heads(blocks: Sequence[AttentionBlock], remove, *, allow_inexact: bool = False) -> Plan:
    """Plan removing query heads ``remove`` = ``{layer: [head ids]}``.

    GQA rule: afterwards every kv head that keeps any query head keeps the same number of
    them; a kv head whose query heads are all removed goes with them.
    """
    per_layer = _per_layer(blocks, remove, what="head")
    layers = []
    for block in blocks:
        ids = per_layer.get(block.layer, ())
        removed = _indices(ids, layer=block, what="head", bound=block.num_heads)
        if removed:
            _check_exact_heads(block, allow_inexact)
        layers.append(_plan_block_heads(block, removed))
    _check_ties(blocks, layers)
    return Plan("heads", tuple(layers))


def tie_groups(blocks: Sequence[AttentionBlock]) -> list[list[AttentionBlock]]:
    """Blocks that must keep the same heads, in groups of two or more (T5: one group per stack
    and attention kind, all served by the position bias of the stack's first block)."""
    groups: dict[tuple, list[AttentionBlock]] = {}
    for block in blocks:
        if block.tie_key is not None:
            groups.setdefault(block.tie_key, []).append(block)
    return [g for g in groups.values() if len(g) > 1]


def _check_ties(blocks, layers) -> None:
    for group in tie_groups(blocks):
        first = group[0]
        for block in group[1:]:
            if layers[block.layer].keep_heads != layers[first.layer].keep_heads:
                raise TiedHeadsError(
                    f"would keep heads {list(layers[block.layer].keep_heads)} but layer {first.layer} ({first.name}) "
                    f"keeps {list(layers[first.layer].keep_heads)}; layers {[b.layer for b in group]} share one "
                    "per-head position bias, so remove the same heads from all of them",
                    layer=block.layer, block=block.name)


def _check_exact_heads(block: AttentionBlock, allow_inexact: bool) -> None:
    if block.width_norm() is not None and not allow_inexact:
        raise InexactPruningError(
            f"{block.family.width_norm!r} normalises over all heads' channels, so removing heads "
            "changes its statistics", layer=block.layer, block=block.name)


def _plan_block_heads(block: AttentionBlock, removed: set[int]) -> LayerPlan:
    h, kv, g = block.num_heads, block.num_kv_heads, block.groups
    if len(removed) == h:
        raise EmptyLayerError(f"removing all {h} heads would leave the layer empty",
                              layer=block.layer, block=block.name)
    kept_per_group = {grp: [q for q in range(grp * g, (grp + 1) * g) if q not in removed] for grp in range(kv)}
    sizes = {grp: len(qs) for grp, qs in kept_per_group.items() if qs}
    if len(set(sizes.values())) > 1:
        detail = ", ".join(f"kv head {grp}: {n}/{g}" for grp, n in sorted(sizes.items()))
        raise GQAPairingError(
            f"query heads kept per kv group would be unequal ({detail}); remove whole groups "
            "or the same number of query heads from every group", layer=block.layer, block=block.name)
    keep_kv = tuple(sorted(sizes))
    keep_heads = tuple(q for grp in keep_kv for q in kept_per_group[grp])
    return LayerPlan(block.layer, keep_heads, keep_kv, tuple(range(block.head_dim)), block.rotary_dim)


# -- head dims ---------------------------------------------------------------------------

def plan_head_dims(blocks: Sequence[AttentionBlock], remove, *, allow_inexact: bool = False) -> Plan:
    """Plan removing dims ``remove`` (``{layer: [dim ids]}`` or one list for every layer) from every head.

    RoPE families: dims go in pairs (i, i + r/2) inside the rotated part, and the same set
    in every layer, because one rotary module serves the whole model.
    """
    per_layer = _per_layer(blocks, remove, what="dim")
    rope_blocks = [b for b in blocks if b.family.rope is not None]
    removed_by_layer = {}
    for block in blocks:
        removed = _indices(per_layer.get(block.layer, ()), layer=block, what="dim", bound=block.head_dim)
        if removed and block.family.fixed_head_dim:
            raise RefusedLayoutError(f"head_dim cannot shrink: {block.family.fixed_head_dim}",
                                     layer=block.layer, block=block.name)
        if len(removed) == block.head_dim:
            raise EmptyLayerError(f"removing all {block.head_dim} dims would leave every head empty",
                                  layer=block.layer, block=block.name)
        if removed and not allow_inexact:
            norms = [p for p, _ in block.qk_norms()]
            if block.width_norm() is not None:
                norms.append(block.family.width_norm)
            if norms:
                raise InexactPruningError(
                    f"{', '.join(norms)} normalise over the dims being removed, so the kept dims "
                    "change value", layer=block.layer, block=block.name)
        removed_by_layer[block.layer] = removed

    rope_pairs = None
    if rope_blocks:
        rope_pairs = _check_rope(rope_blocks, removed_by_layer)
    layers = []
    for block in blocks:
        removed = removed_by_layer[block.layer]
        keep = tuple(i for i in range(block.head_dim) if i not in removed)
        r = block.rotary_dim
        if r is not None:
            r -= sum(1 for i in removed if i < r)
        layers.append(LayerPlan(block.layer, tuple(range(block.num_heads)), tuple(range(block.num_kv_heads)),
                                keep, r))
    if rope_pairs is not None and len(rope_pairs) == rope_blocks[0].rotary_dim // 2:
        rope_pairs = None  # no frequency is removed
    return Plan("head_dims", tuple(layers), rope_pairs)


def _check_rope(rope_blocks, removed_by_layer) -> tuple[int, ...]:
    first = rope_blocks[0]
    r, rope = first.rotary_dim, first.family.rope
    ref = {i for i in removed_by_layer[first.layer] if i < r}
    for block in rope_blocks:
        rotated = {i for i in removed_by_layer[block.layer] if i < block.rotary_dim}
        if block.rotary_dim != r or block.family.rope.interleaved != rope.interleaved or rotated != ref:
            raise RopePairError(
                f"rotated dims removed here {sorted(rotated)} differ from layer {first.layer}'s {sorted(ref)}; "
                "the rotary frequencies are shared by every layer", layer=block.layer, block=block.name)
        partners = {i: rope.pair_dims(rope.pair_of(i, r), r) for i in rotated}
        unpaired = sorted(i for i in rotated if not set(partners[i]) <= rotated)
        if unpaired:
            style = "(2i, 2i + 1), interleaved" if rope.interleaved else "(i, i + rotary_dim/2), rotate_half"
            raise RopePairError(f"dims {unpaired} are removed without their RoPE partners "
                                f"{[partners[i] for i in unpaired]} (pairs {style})",
                                layer=block.layer, block=block.name)
    if len(ref) == r:
        raise EmptyLayerError("removing every rotated dim pair is not supported", layer=first.layer,
                              block=first.name)
    gone = {rope.pair_of(i, r) for i in ref}
    return tuple(p for p in range(r // 2) if p not in gone)


# -- selection by importance -----------------------------------------------------------

def round_half_up(x: float) -> int:
    return int(math.floor(x + 0.5))


def check_ratio(ratio) -> float:
    """``ratio`` as a float in [0, 1). Any real number type is accepted (numpy scalars,
    ``Fraction``, a one-element torch tensor on a real device); bools are not numbers here."""
    value = None
    if isinstance(ratio, torch.Tensor):
        if ratio.numel() == 1 and not ratio.is_meta and ratio.dtype != torch.bool and not ratio.is_complex():
            value = float(ratio.item())
    elif isinstance(ratio, numbers.Real) and not isinstance(ratio, bool):  # numpy bools are not Real
        value = float(ratio)
    if value is None or not 0.0 <= value < 1.0:
        raise RequestError(f"ratio must be a number in [0, 1), got {ratio!r}")
    return value


def check_gqa(gqa) -> str:
    if not isinstance(gqa, str) or gqa not in GQA_STRATEGIES:
        raise RequestError(f"gqa must be one of {GQA_STRATEGIES}, got {gqa!r}")
    return gqa


def _lowest(scores, candidates: Sequence[int], n: int) -> list[int]:
    """The ``n`` candidates with the lowest score; ties go to the lower index."""
    return sorted(sorted(candidates, key=lambda i: (float(scores[i]), i))[:n])


def _count(total: int, ratio: float) -> int:
    """How many of ``total`` units a ratio removes: rounded half up, never all of them."""
    return min(round_half_up(total * ratio), total - 1)


def check_multiple_of(multiple_of) -> int:
    value = _as_int(multiple_of)
    if value is None or value < 1:
        raise RequestError(f"multiple_of must be a positive integer, got {multiple_of!r}")
    return value


def _aligned_keep(total: int, keep: int, step: int) -> int:
    """The kept count nearest ``keep`` that is a multiple of ``step`` (ties keep more).

    Keeping ``total`` (removing nothing) is always allowed: the unpruned layer is never slower.
    """
    if step <= 1:
        return keep
    candidates = [*range(step, total, step), total]
    return min(candidates, key=lambda k: (abs(k - keep), -k))


def _unit_step(unit_width: int, multiple_of: int) -> int:
    """How many units must go together so that ``units * unit_width`` stays a multiple of ``multiple_of``."""
    return multiple_of // math.gcd(unit_width, multiple_of)


def _note_unaligned(notes, block, what: str, total: int, wanted: int, kept: int, multiple_of: int) -> None:
    if notes is not None and kept != wanted:
        notes.append(f"layer {block.layer}: ratio asks to keep {wanted} of {total} {what}; kept {kept} so that "
                     f"widths stay multiples of {multiple_of}")


def select_heads(blocks, ratio: float, head_scores, group_scores, gqa: str = "equal", *,
                 multiple_of: int = 1, notes: list[str] | None = None) -> dict[int, list[int]]:
    """Heads to remove per layer for ``ratio``, lowest score first; every layer keeps a head.

    ``equal``: the same number of query heads from every kv group (all heads when the
    layer has one kv head per query head or one kv head in all). ``groups``: whole kv groups.
    ``multiple_of``: round the kept count so that the q (and k/v) widths stay multiples of it
    (only matters when head_dim itself is not one); ``notes`` collects every rounding made.
    """
    check_gqa(gqa)
    remove = {}
    tied = {}
    for group in tie_groups(blocks):  # one choice per tied group, by the group's total score
        total = sum(head_scores[b.layer] for b in group)
        tied.update({b.layer: total for b in group})
    for block in blocks:
        h, kv, g, d = block.num_heads, block.num_kv_heads, block.groups, block.head_dim
        hs = tied.get(block.layer, head_scores[block.layer])
        if gqa == "groups" and 1 < kv < h:  # GQA only: in MHA and MQA the units are the query heads
            what, total, unit_width = "kv groups", kv, d         # the kv width kv' * d is the tighter one
        elif g == 1 or kv == 1:
            what, total, unit_width = "heads", h, d
        else:
            what, total, unit_width = "query heads per kv group", g, kv * d
        wanted = total - _count(total, ratio)
        keep = _aligned_keep(total, wanted, _unit_step(unit_width, multiple_of))
        _note_unaligned(notes, block, what, total, wanted, keep, multiple_of)
        if what == "kv groups":
            groups = _lowest(group_scores[block.layer], range(kv), total - keep)
            chosen = [q for grp in groups for q in range(grp * g, (grp + 1) * g)]
        elif what == "heads":
            chosen = _lowest(hs, range(h), total - keep)
        else:
            chosen = sorted(q for grp in range(kv) for q in _lowest(hs, range(grp * g, (grp + 1) * g), total - keep))
        remove[block.layer] = chosen
    return remove


def _aligned_rope(half: int, free: int, pairs: int, free_kept: int, multiple_of: int) -> tuple[int, int]:
    """Kept (rotary pairs, pass-through dims) nearest the ratio's, with 2 * pairs + free a multiple of
    ``multiple_of`` (or everything kept). Pairs keep at least one; nearest total first, then the
    split closest to the ratio's, then the larger total."""
    target = 2 * pairs + free_kept
    options = [(p, f) for p in range(1, half + 1) for f in range(free + 1)
               if (2 * p + f) % multiple_of == 0 and 2 * p + f < 2 * half + free]
    options.append((half, free))
    return min(options, key=lambda o: (abs(2 * o[0] + o[1] - target), abs(o[0] - pairs) + abs(o[1] - free_kept),
                                       -(2 * o[0] + o[1])))


def _aligned_free(free: int, rotary_kept: int, rotary_dim: int, target: int, free_kept: int,
                  multiple_of: int) -> int:
    """Pass-through dims to keep next to ``rotary_kept`` rotated dims: the aligned head width nearest
    ``target`` (all of them when every pair stays and nothing smaller aligns; the ratio's count when
    no width aligns at all)."""
    fits = [f for f in range(free + 1) if (rotary_kept + f) % multiple_of == 0]
    if rotary_kept == rotary_dim:
        fits.append(free)
    if not fits:
        return free_kept
    return min(fits, key=lambda f: (abs(rotary_kept + f - target), abs(f - free_kept), -f))


def select_head_dims(blocks, ratio: float, dim_scores, *, multiple_of: int = 1,
                     notes: list[str] | None = None) -> dict[int, list[int]]:
    """Dims to remove per layer for ``ratio``. RoPE: whole pairs, scored over all layers.

    ``multiple_of``: the kept head_dim is rounded to a multiple of it (RoPE: whole pairs plus
    pass-through dims add up to one); a head_dim with no such width below it keeps every dim.
    """
    remove: dict[int, list[int]] = {}
    rope_blocks = [b for b in blocks if b.family.rope is not None]
    shared_pairs: list[int] = []
    pairs_kept = half = None
    if rope_blocks:
        first = rope_blocks[0]
        r, rope = first.rotary_dim, first.family.rope
        half, free = r // 2, first.head_dim - r
        pairs_kept = half - _count(half, ratio)
        if multiple_of > 1:
            wanted = 2 * pairs_kept + free - min(round_half_up(free * ratio), free)
            pairs_kept, free_kept = _aligned_rope(half, free, pairs_kept, wanted - 2 * pairs_kept, multiple_of)
            _note_unaligned(notes, first, "head dims", first.head_dim, wanted, 2 * pairs_kept + free_kept,
                            multiple_of)
        pair_score = [sum(float(dim_scores[b.layer][i]) for b in rope_blocks for i in rope.pair_dims(p, r))
                      for p in range(half)]
        for p in _lowest(pair_score, range(half), half - pairs_kept):
            shared_pairs += list(rope.pair_dims(p, r))
    for block in blocks:
        d, r = block.head_dim, block.rotary_dim
        if r is None:
            wanted = d - _count(d, ratio)
            keep = _aligned_keep(d, wanted, multiple_of)
            _note_unaligned(notes, block, "head dims", d, wanted, keep, multiple_of)
            remove[block.layer] = _lowest(dim_scores[block.layer], range(d), d - keep)
        else:
            free = range(r, d)  # pass-through dims of partial rotary
            free_kept = len(free) - min(round_half_up(len(free) * ratio), len(free))
            if multiple_of > 1:
                target = 2 * (half - _count(half, ratio)) + free_kept
                aligned = _aligned_free(len(free), 2 * pairs_kept, r, target, free_kept, multiple_of)
                if block is not rope_blocks[0]:
                    _note_unaligned(notes, block, "head dims", d, target, 2 * pairs_kept + aligned, multiple_of)
                free_kept = aligned
            chosen = _lowest(dim_scores[block.layer], free, len(free) - free_kept)
            remove[block.layer] = sorted(shared_pairs + chosen)
    return remove
