"""Head and head-dim importance scores (L2 weight magnitude)."""
from __future__ import annotations

import torch

from .blocks import AttentionBlock, weight


def _row_mass(w: torch.Tensor) -> torch.Tensor:
    """Squared L2 norm of every row of ``w``, in float32: one reduction that reads the weight
    once, with no float or squared copy of it.

    Half-precision weights are reduced in their own dtype: the kernel accumulates in float32
    and only rounds each row's norm (relative error 2^-9, a ranking heuristic's noise), while
    asking for a float32 result converts the whole weight first, 30x slower on CPU. A norm
    that overflows the half type is recomputed wide."""
    norm = torch.linalg.vector_norm(w, dim=1)
    if w.dtype not in (torch.float32, torch.float64) and not bool(torch.isfinite(norm).all()):
        norm = torch.linalg.vector_norm(w, dim=1, dtype=torch.float32)
    return norm.float().pow_(2)


_COLUMN_CHUNK_BYTES = 256 * 1024


def _column_mass(w: torch.Tensor) -> torch.Tensor:
    """Squared L2 norm of every column of ``w``, in float32. The strided norm kernel is several
    times slower than squaring and summing rows, and one squared copy of a large weight costs a
    fresh allocation (page faults); squaring cache-sized row chunks avoids both."""
    step = max(1, _COLUMN_CHUNK_BYTES // max(1, w.shape[1] * w.element_size()))
    return torch.stack([c.float().square().sum(dim=0) for c in w.split(step, dim=0)]).sum(dim=0)


def _column_segment_mass(w: torch.Tensor, cols: torch.Tensor, d: int) -> torch.Tensor | None:
    """Squared mass of each head's column block ``[H]``, when every head's columns are one
    aligned run ``[k*d, (k+1)*d)``: the run is then a contiguous row of ``w.view(-1, d)``, so the
    fast row kernel does it without touching columns. ``None`` when the columns are scattered."""
    runs = cols.view(-1, d)
    starts = runs[:, 0]
    if w.shape[1] % d or bool((starts % d).any()) or not torch.equal(runs - starts[:, None], torch.arange(d).expand_as(runs)):
        return None
    seg = _row_mass(w.reshape(-1, d)).view(w.shape[0], -1).sum(dim=0)
    return seg[starts // d]


def _masses(block: AttentionBlock, per_dim: bool) -> dict[str, torch.Tensor]:
    """Squared weight mass of q ``[H]``, k/v ``[KV]`` and o ``[H]`` per head, or per (head, dim)
    (``[H, d]``, ``[KV, d]``) when ``per_dim``; heads only need the cheap contiguous reductions."""
    d = block.head_dim
    out = {}
    with torch.no_grad():
        for role, located in block.qkv_rows().items():
            rows = torch.tensor(located.rows, dtype=torch.long)
            mass = _row_mass(weight(located.lin))[rows]
            if located.lin.bias is not None:
                mass = mass + located.lin.bias.detach()[rows].float().pow(2)
            out[role] = mass.view(-1, d) if per_dim else mass.view(-1, d).sum(1)
        cols = torch.tensor(block.o_cols().rows, dtype=torch.long)
        o = weight(block.o)
        heads = None if per_dim else _column_segment_mass(o, cols, d)
        if heads is not None:
            out["o"] = heads
        else:
            per = _column_mass(o)[cols].view(-1, d)
            out["o"] = per if per_dim else per.sum(1)
    return out


def head_and_group_scores(block: AttentionBlock) -> tuple[torch.Tensor, torch.Tensor]:
    """:func:`head_scores` and :func:`group_scores` from one pass over the weights."""
    m = _masses(block, per_dim=False)
    return _head_scores(block, m), _group_scores(block, m)


def head_scores(block: AttentionBlock) -> torch.Tensor:
    """One score per query head: the L2 norm of its q rows and o columns (and its own k/v when MHA)."""
    return _head_scores(block, _masses(block, per_dim=False))


def _head_scores(block: AttentionBlock, m: dict[str, torch.Tensor]) -> torch.Tensor:
    s = m["q"] + m["o"]
    if block.groups == 1:
        s = s + m["k"] + m["v"]
    return s.sqrt()


def group_scores(block: AttentionBlock) -> torch.Tensor:
    """One score per kv group: its kv head plus all of its query heads."""
    return _group_scores(block, _masses(block, per_dim=False))


def _group_scores(block: AttentionBlock, m: dict[str, torch.Tensor]) -> torch.Tensor:
    g = block.groups
    q = (m["q"] + m["o"]).view(-1, g).sum(1)
    return (q + m["k"] + m["v"]).sqrt()


def dim_scores(block: AttentionBlock) -> torch.Tensor:
    """One score per head dim, summed over heads and over q, k, v and o."""
    m = _masses(block, per_dim=True)
    return sum(t.sum(0) for t in m.values()).sqrt()
