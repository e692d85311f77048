"""Head and head-dim importance scores (L2 weight magnitude)."""
from __future__ import annotations

import torch

from .blocks import AttentionBlock, weight


def _per_head(block: AttentionBlock) -> dict[str, torch.Tensor]:
    """Squared weight mass per (head, dim): q [H, d], k/v [KV, d], o [H, d]."""
    d = block.head_dim
    out = {}
    with torch.no_grad():
        for role, located in block.qkv_rows().items():
            rows = torch.tensor(located.rows, dtype=torch.long)
            mass = weight(located.lin)[rows].float().pow(2).sum(dim=1)
            if located.lin.bias is not None:
                mass = mass + located.lin.bias[rows].float().pow(2)
            out[role] = mass.view(-1, d)
        cols = torch.tensor(block.o_cols().rows, dtype=torch.long)
        out["o"] = weight(block.o)[:, cols].float().pow(2).sum(dim=0).view(-1, d)
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
