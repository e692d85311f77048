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


def heads_oracle(original: nn.Module, removed: Mapping[int, tuple[int, ...]]) -> nn.Module:
    model = copy.deepcopy(original)
    with torch.no_grad():
        for block in headprune.attention_blocks(model):
            d = block.head_dim
            for h in removed.get(block.layer, ()):
                block.o.weight[:, h * d:(h + 1) * d] = 0
    return model


def dims_oracle(original: nn.Module, removed: Mapping[int, tuple[int, ...]]) -> nn.Module:
    model = copy.deepcopy(original)
    with torch.no_grad():
        for block in headprune.attention_blocks(model):
            dims = sorted(removed.get(block.layer, ()))
            if not dims:
                continue
            d = block.head_dim
            for lin, start, stop in block.qkv_rows().values():
                rows = [start + h * d + i for h in range((stop - start) // d) for i in dims]
                lin.weight[rows] = 0
                if lin.bias is not None:
                    lin.bias[rows] = 0
    return model
