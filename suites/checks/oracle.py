"""Oracles: the original model with the pruned part masked out, no shapes changed.

Whole heads: the removed heads' inputs to the output projection are zeroed (their o
columns), which is exactly what the kept heads computed before. Head dims: the removed
dims are zeroed in q, k and v in every head; the softmax scale stays the original one.
Both are built on a deep copy of the *unpruned* model.
"""
from __future__ import annotations

import copy
from collections.abc import Mapping

import torch
from torch import nn

import headprune
from headprune.blocks import weight


def heads_oracle(original: nn.Module, removed: Mapping[int, tuple[int, ...]]) -> nn.Module:
    model = copy.deepcopy(original)
    with torch.no_grad():
        for block in headprune.attention_blocks(model):
            cols = block.o_cols()
            for h in removed.get(block.layer, ()):
                weight(block.o)[:, cols.of(h)] = 0
    return model


def dims_oracle(original: nn.Module, removed: Mapping[int, tuple[int, ...]]) -> nn.Module:
    model = copy.deepcopy(original)
    with torch.no_grad():
        for block in headprune.attention_blocks(model):
            dims = sorted(removed.get(block.layer, ()))
            if not dims:
                continue
            for role, located in block.qkv_rows().items():
                _zero_rows(located, [r for h in range(located.heads) for r in located.of(h, dims)])
                _zero_aligned(block, role, [h * located.head_dim + i for h in range(located.heads) for i in dims])
    return model


def _zero_rows(located, rows: list[int]) -> None:
    weight(located.lin)[rows] = 0
    if located.lin.bias is not None:
        located.lin.bias[rows] = 0


def _zero_aligned(block, role: str, entries: list[int]) -> None:
    """Zero the same (head, dim) entries of tensors laid out like ``role``'s rows (timm's q_bias,
    DeBERTa's pos_key_proj)."""
    for weight_, bias in block.aligned_rows(role):
        weight_[entries] = 0
        if bias is not None:
            bias[entries] = 0


def _zero_head_rows(block, rows, role: str, head: int, d: int, keep) -> None:
    """Zero the rows of ``head`` in projection ``role`` whose dim is not in ``keep``."""
    drop = [i for i in range(d) if i not in keep]
    _zero_rows(rows[role], rows[role].of(head, drop))
    _zero_aligned(block, role, [head * d + i for i in drop])


def survivors_oracle(original: nn.Module, survivors) -> nn.Module:
    """The original with everything the pruned model lost zeroed, found from the weights:
    o columns of removed heads and of dropped v dims; q/k/v rows of dropped dims."""
    from .base import CheckFailure

    model = copy.deepcopy(original)
    with torch.no_grad():
        for block, s in zip(headprune.attention_blocks(model), survivors):
            d, rows = block.head_dim, block.qkv_rows()
            kept_o = {src.head: src for src in s.o}
            for h in range(block.num_heads):
                keep = kept_o[h].dims if h in kept_o else ()
                weight(block.o)[:, block.o_cols().of(h, [i for i in range(d) if i not in keep])] = 0
            g_new = max(1, s.num_heads // max(1, s.num_kv_heads))
            for j, q_src in enumerate(s.q):
                kv = s.k[j // g_new] if j // g_new < len(s.k) else None
                if kv is None or q_src.dims != kv.dims:
                    raise CheckFailure(f"layer {s.layer}: pruned head {j} keeps q dims {q_src.dims} but its kv "
                                       f"head keeps k dims {None if kv is None else kv.dims}; no zeroing "
                                       "oracle computes that")
                _zero_head_rows(block, rows, "q", q_src.head, d, set(q_src.dims))
            for k_src in s.k:
                _zero_head_rows(block, rows, "k", k_src.head, d, set(k_src.dims))
            for v_src in s.v:
                _zero_head_rows(block, rows, "v", v_src.head, d, set(v_src.dims))
    return model
