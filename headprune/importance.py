"""Head and head-dim importance scores (L2 weight magnitude)."""
from __future__ import annotations

import torch

from .blocks import AttentionBlock, weight


def _row_mass(w: torch.Tensor, dim: int) -> torch.Tensor:
    """Squared L2 norm of every row (``dim=1``) or column (``dim=0``) of ``w``, in float32.

    A reduction reads the weight once and allocates only its result: no float or squared copy
    of a whole weight (an 8B model's projections are gigabytes)."""
    return torch.linalg.vector_norm(w, dim=dim, dtype=torch.float32).pow_(2)


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


def head_scores(block: AttentionBlock) -> torch.Tensor:
    """One score per query head: the L2 norm of its q rows and o columns (and its own k/v when MHA)."""
    m = _per_head(block)
    s = m["q"].sum(1) + m["o"].sum(1)
    if block.groups == 1:
        s = s + m["k"].sum(1) + m["v"].sum(1)
    return s.sqrt()


def group_scores(block: AttentionBlock) -> torch.Tensor:
    """One score per kv group: its kv head plus all of its query heads."""
    m = _per_head(block)
    g = block.groups
    q = (m["q"].sum(1) + m["o"].sum(1)).view(-1, g).sum(1)
    return (q + m["k"].sum(1) + m["v"].sum(1)).sqrt()


def dim_scores(block: AttentionBlock) -> torch.Tensor:
    """One score per head dim, summed over heads and over q, k, v and o."""
    m = _per_head(block)
    return sum(t.sum(0) for t in m.values()).sqrt()
