"""Which heads and dims survived, found by matching the pruned weights against the original.

This makes the suite independent of what the pruner says it did: a ratio-mode pruner that
chose its own heads is checked the same way as an explicit request. q rows are matched by
direction (a pruner may fold a scale into them); k, v and o are matched exactly.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

import headprune
from headprune.blocks import weight

from .base import CheckFailure

TOL = 1e-6


@dataclass(frozen=True)
class Source:
    head: int
    dims: tuple[int, ...]


@dataclass(frozen=True)
class BlockSurvivors:
    layer: int
    heads_before: int
    kv_heads_before: int
    head_dim_before: int
    q: tuple[Source, ...]    # per pruned query head: where its q rows came from
    o: tuple[Source, ...]    # per pruned query head: where its o columns came from
    k: tuple[Source, ...]    # per pruned kv head
    v: tuple[Source, ...]

    @property
    def heads(self) -> tuple[int, ...]:
        return tuple(s.head for s in self.o)

    @property
    def num_heads(self) -> int:
        return len(self.o)

    @property
    def num_kv_heads(self) -> int:
        return len(self.k)

    @property
    def head_dim(self) -> int:
        return len(self.o[0].dims)


def _features(located) -> torch.Tensor:
    """The rows of one role (q, k or v) in (head, dim) order, bias appended; any fused layout."""
    idx = torch.tensor(located.rows, dtype=torch.long)
    rows = weight(located.lin)[idx].detach().double()
    if located.lin.bias is not None:
        rows = torch.cat([rows, located.lin.bias[idx].detach().double()[:, None]], dim=1)
    return rows


def tolerance(dtype: torch.dtype) -> float:
    """Relative tolerance for matching rows: q rows may carry a folded scale, rounded in ``dtype``."""
    return max(TOL, 4 * torch.finfo(dtype).eps) if dtype.is_floating_point else TOL


def _match(new: torch.Tensor, old: torch.Tensor, *, by_direction: bool, what: str, tol: float = TOL) -> list[int]:
    """For each row of ``new``, the index of the equal row of ``old``."""
    if new.shape[1] != old.shape[1]:
        raise CheckFailure(f"{what}: input width changed from {old.shape[1]} to {new.shape[1]}")
    if by_direction:
        new = new / new.norm(dim=1, keepdim=True).clamp_min(1e-30)
        old = old / old.norm(dim=1, keepdim=True).clamp_min(1e-30)
    dist = torch.cdist(new, old)
    best = dist.argmin(dim=1)
    scale = old.abs().max().clamp_min(1e-12)
    bad = [i for i in range(new.shape[0]) if dist[i, best[i]] > tol * scale * (old.shape[1] ** 0.5)]
    if bad:
        raise CheckFailure(f"{what}: rows {bad[:8]} match no row of the original (weights were altered, "
                           "not sliced)")
    return best.tolist()


def _group(indices: list[int], d_old: int, d_new: int, what: str) -> tuple[Source, ...]:
    """Pruned heads as (original head, its dims), one-to-one: no original head, and no original
    channel, may feed two pruned ones (a duplicated head is not a kept head)."""
    out: list[Source] = []
    taken: dict[int, int] = {}
    for j in range(len(indices) // d_new):
        chunk = indices[j * d_new:(j + 1) * d_new]
        heads = {i // d_old for i in chunk}
        if len(heads) != 1:
            raise CheckFailure(f"{what}: pruned head {j} mixes channels of original heads {sorted(heads)}")
        head = heads.pop()
        if head in taken:
            raise CheckFailure(f"{what}: pruned heads {taken[head]} and {j} are both cut from original head {head}")
        dims = tuple(i % d_old for i in chunk)
        if len(set(dims)) != len(dims):
            raise CheckFailure(f"{what}: pruned head {j} repeats dims of original head {head}: {dims}")
        taken[head] = j
        out.append(Source(head, dims))
    return tuple(out)


def identify_block(old: headprune.AttentionBlock, new: headprune.AttentionBlock) -> BlockSurvivors:
    d_old, d_new = old.head_dim, new.head_dim
    where = f"layer {new.layer} ({new.name})"
    old_rows, new_rows = old.qkv_rows(), new.qkv_rows()
    sources = {}
    for role in ("q", "k", "v"):
        idx = _match(_features(new_rows[role]), _features(old_rows[role]), by_direction=(role == "q"),
                     what=f"{where} {role} rows", tol=tolerance(weight(old_rows[role].lin).dtype))
        sources[role] = _group(idx, d_old, d_new, f"{where} {role}")
    o_idx = _match(weight(new.o).detach().double().T, weight(old.o).detach().double().T,
                   by_direction=False, what=f"{where} o columns")
    sources["o"] = _group(o_idx, d_old, d_new, f"{where} o")
    return BlockSurvivors(new.layer, old.num_heads, old.num_kv_heads, d_old, **sources)


def identify(original, pruned) -> list[BlockSurvivors]:
    try:
        new_blocks = headprune.attention_blocks(pruned)
    except headprune.PruningError as exc:
        raise CheckFailure(f"the pruned model's attention blocks are inconsistent: {exc}") from exc
    old_blocks = headprune.attention_blocks(original)
    if len(new_blocks) != len(old_blocks):
        raise CheckFailure(f"{len(old_blocks)} attention blocks became {len(new_blocks)}")
    return [identify_block(o, n) for o, n in zip(old_blocks, new_blocks)]
