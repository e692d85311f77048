"""Head and head-dim importance scores (L2 weight magnitude)."""
from __future__ import annotations

import torch

from .blocks import AttentionBlock, weight


def _row_mass(w: torch.Tensor, dim: int) -> torch.Tensor:
    """Squared L2 norm of every row (``dim=1``) or column (``dim=0``) of ``w``, in float32.

    Rows: one reduction that reads the weight once, no float or squared copy of it. Columns:
    the strided norm kernel is several times slower than squaring once and summing rows."""
    if dim == 1:
        wide = None if w.dtype in (torch.float32, torch.float64) else torch.float32  # half types: accumulate wide
        return torch.linalg.vector_norm(w, dim=1, dtype=wide).float().pow_(2)
    return w.float().square().sum(dim=0)


def _per_head(block: AttentionBlock) -> dict[str, torch.Tensor]:
    """Squared weight mass per (head, dim): q [H, d], k/v [KV, d], o [H, d]."""
    d = block.head_dim
    out = {}
    with torch.no_grad():
        for role, located in block.qkv_rows().items():
            rows = torch.tensor(located.rows, dtype=torch.long)
            mass = _row_mass(weight(located.lin), 1)[rows]
            if located.lin.bias is not None:
                mass = mass + located.lin.bias.detach()[rows].float().pow(2)
            out[role] = mass.view(-1, d)
        cols = torch.tensor(block.o_cols().rows, dtype=torch.long)
        out["o"] = _row_mass(weight(block.o), 0)[cols].view(-1, d)
    return out


def head_and_group_scores(block: AttentionBlock) -> tuple[torch.Tensor, torch.Tensor]:
    """:func:`head_scores` and :func:`group_scores` from one pass over the weights."""
    m = _per_head(block)
    return _head_scores(block, m), _group_scores(block, m)


def head_scores(block: AttentionBlock) -> torch.Tensor:
    """One score per query head: the L2 norm of its q rows and o columns (and its own k/v when MHA)."""
    return _head_scores(block, _per_head(block))


def _head_scores(block: AttentionBlock, m: dict[str, torch.Tensor]) -> torch.Tensor:
    s = m["q"].sum(1) + m["o"].sum(1)
    if block.groups == 1:
        s = s + m["k"].sum(1) + m["v"].sum(1)
    return s.sqrt()


def group_scores(block: AttentionBlock) -> torch.Tensor:
    """One score per kv group: its kv head plus all of its query heads."""
    return _group_scores(block, _per_head(block))


def _group_scores(block: AttentionBlock, m: dict[str, torch.Tensor]) -> torch.Tensor:
    g = block.groups
    q = (m["q"].sum(1) + m["o"].sum(1)).view(-1, g).sum(1)
    return (q + m["k"].sum(1) + m["v"].sum(1)).sqrt()


def dim_scores(block: AttentionBlock) -> torch.Tensor:
    """One score per head dim, summed over heads and over q, k, v and o."""
    m = _per_head(block)
    return sum(t.sum(0) for t in m.values()).sqrt()
