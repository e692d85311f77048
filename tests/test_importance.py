"""Importance scoring: the fast paths (o's per-head column runs read as rows, half-precision
weights reduced in their own dtype) give the textbook L2 masses and the same choices."""
from __future__ import annotations

import pytest
import torch

import headprune
import models
from headprune import importance


def _float_head_mass(block) -> torch.Tensor:
    """Per-head squared mass of q rows and o columns, written the obvious way in float64."""
    q = block.qkv_rows()["q"]
    wq = headprune.blocks.weight(q.lin).double()
    wo = headprune.blocks.weight(block.o).double()
    cols = block.o_cols()
    out = []
    for h in range(block.num_heads):
        rows = q.of(h)
        m = wq[rows].pow(2).sum() + wo[:, cols.of(h)].pow(2).sum()
        if q.lin.bias is not None:
            m = m + q.lin.bias.double()[rows].pow(2).sum()
        out.append(m)
    return torch.stack(out)


@pytest.mark.parametrize("name", ["llama-gqa", "phi3-gqa", "gpt2", "timm-convit", "falcon"])
def test_head_scores_match_a_plain_float64_computation(name):
    """The fast path (o's per-head column runs read as rows) gives the textbook L2 masses,
    on separate, fused, transposed (Conv1D) and fused [q | k] projections."""
    for block in headprune.attention_blocks(models.build(name)):
        want = _float_head_mass(block)
        if block.groups == 1:
            for role in ("k", "v"):
                r = block.qkv_rows()[role]
                w = headprune.blocks.weight(r.lin).double()
                want = want + torch.stack([w[r.of(h)].pow(2).sum() + (r.lin.bias.double()[r.of(h)].pow(2).sum()
                                           if r.lin.bias is not None else 0) for h in range(block.num_heads)])
        got = importance.head_scores(block).double().pow(2)
        torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-8)


def test_scattered_o_columns_fall_back_to_the_column_path():
    w = torch.randn(6, 8)
    cols = torch.tensor([1, 2, 3, 4, 5, 6, 7, 0])  # runs not aligned to d = 4
    assert importance._column_segment_mass(w, cols, 4) is None
    aligned = torch.tensor([4, 5, 6, 7, 0, 1, 2, 3])
    torch.testing.assert_close(importance._column_segment_mass(w, aligned, 4),
                               torch.stack([w[:, 4:].pow(2).sum(), w[:, :4].pow(2).sum()]))
    torch.testing.assert_close(importance._column_mass(w), w.pow(2).sum(0))


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16])
def test_half_precision_rows_are_reduced_wide_enough(dtype):
    w = torch.randn(32, 256).to(dtype)
    torch.testing.assert_close(importance._row_mass(w), w.double().pow(2).sum(1).float(), rtol=1e-2, atol=1e-3)
    big = torch.full((2, 4096), 2000.0, dtype=torch.float16)  # the norm (128000) overflows float16
    assert torch.isfinite(importance._row_mass(big)).all()
    torch.testing.assert_close(importance._row_mass(big), torch.full((2,), 4096 * 2000.0**2))


def test_half_precision_ratio_picks_the_float32_choice():
    model = models.build("llama-gqa")
    half = models.build("llama-gqa").to(torch.bfloat16)
    a = headprune.prune(model, ratio=0.5, gqa="groups")
    b = headprune.prune(half, ratio=0.5, gqa="groups")
    assert [lr.kept_heads for lr in a.layers] == [lr.kept_heads for lr in b.layers]
