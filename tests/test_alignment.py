"""Hardware-aware rounding: ratio requests keep head widths at multiples of ``multiple_of`` (default 8).

The zoo's heads are 8 wide, so these tests build small models with realistic head widths
(64, 80 with partial rotary, 12) straight from configs.
"""
from __future__ import annotations

import pytest
import torch
import transformers

import headprune
from headprune.contract import PruneRequest, ReferencePruner
from headprune.errors import NothingRemovedWarning
from headprune.plan import _aligned_keep, _aligned_rope, _unit_step, round_half_up


def _vit(head_dim=64, heads=2, layers=1):
    cfg = transformers.ViTConfig(hidden_size=heads * head_dim, num_attention_heads=heads, num_hidden_layers=layers,
                                 intermediate_size=32, image_size=8, patch_size=4)
    torch.manual_seed(0)
    return transformers.ViTModel(cfg).eval()


def _llama(head_dim=64, heads=4, kv=2, layers=2):
    cfg = transformers.LlamaConfig(hidden_size=128, num_attention_heads=heads, num_key_value_heads=kv,
                                   head_dim=head_dim, num_hidden_layers=layers, intermediate_size=32, vocab_size=64)
    torch.manual_seed(0)
    return transformers.LlamaForCausalLM(cfg).eval()


def _phi(head_dim=80, layers=2):
    cfg = transformers.PhiConfig(hidden_size=2 * head_dim, num_attention_heads=2, num_hidden_layers=layers,
                                 intermediate_size=32, vocab_size=64, partial_rotary_factor=0.4)
    torch.manual_seed(0)
    return transformers.PhiForCausalLM(cfg).eval()


def _head_dims(model):
    return [b.head_dim for b in headprune.attention_blocks(model)]


# -- the rounding rule itself ------------------------------------------------------------

@pytest.mark.parametrize("total", range(1, 97))
def test_aligned_keep_is_a_multiple_or_everything(total):
    for keep in range(1, total + 1):
        got = _aligned_keep(total, keep, 8)
        assert got == total or (got % 8 == 0 and 8 <= got < total), (total, keep, got)
        # nothing aligned is nearer to what the ratio asked for
        aligned = [k for k in range(8, total, 8)] + [total]
        assert abs(got - keep) == min(abs(k - keep) for k in aligned)


def test_aligned_keep_ties_keep_more_and_step_one_is_exact():
    assert _aligned_keep(64, 44, 8) == 48 and _aligned_keep(64, 45, 8) == 48 and _aligned_keep(64, 43, 8) == 40
    assert _aligned_keep(64, 36, 8) == 40  # 36 is as near 32 as 40: keep more
    assert _aligned_keep(64, 61, 8) == 64  # nearer to dense than to 56: remove nothing
    assert all(_aligned_keep(64, k, 1) == k for k in range(1, 65))


def test_unit_step():
    assert _unit_step(64, 8) == 1 and _unit_step(12, 8) == 2 and _unit_step(3, 8) == 8 and _unit_step(5, 1) == 1


@pytest.mark.parametrize("half,free", [(32, 0), (8, 16), (16, 48), (4, 0), (4, 4), (2, 3)])
def test_aligned_rope_keeps_whole_pairs_and_an_aligned_width(half, free):
    for pairs in range(1, half + 1):
        for free_kept in range(free + 1):
            p, f = _aligned_rope(half, free, pairs, free_kept, 8)
            assert 1 <= p <= half and 0 <= f <= free
            assert (p, f) == (half, free) or (2 * p + f) % 8 == 0


# -- prune(ratio=...) defaults to multiples of 8 ---------------------------------------------

def test_head_dims_ratio_rounds_to_a_multiple_of_8_and_says_so():
    model = _vit()
    report = headprune.prune(model, mode="head_dims", ratio=0.3)  # exact: 64 - round(19.2) = 45
    assert _head_dims(model) == [48] and report.multiple_of == 8
    assert len(report.notes) == 1 and "keep 45 of 64" in report.notes[0] and "kept 48" in report.notes[0]
    assert "multiples of 8" in str(report)
    model(pixel_values=torch.randn(1, 3, 8, 8))


def test_head_dims_ratio_already_aligned_has_no_note():
    model = _vit()
    report = headprune.prune(model, mode="head_dims", ratio=0.5)
    assert _head_dims(model) == [32] and report.notes == ()


def test_multiple_of_1_is_the_exact_ratio():
    model = _vit()
    report = headprune.prune(model, mode="head_dims", ratio=0.3, multiple_of=1)
    assert _head_dims(model) == [45] and report.multiple_of == 1 and report.notes == ()


def test_multiple_of_is_configurable():
    model = _vit()
    headprune.prune(model, mode="head_dims", ratio=0.3, multiple_of=16)
    assert _head_dims(model) == [48]
    model = _vit()
    headprune.prune(model, mode="head_dims", ratio=0.4, multiple_of=16)  # exact 38: nearest is 32
    assert _head_dims(model) == [32]


def test_the_contract_adapter_asks_for_exact_ratios():
    model = _vit()
    ReferencePruner().prune(model, PruneRequest(mode="head_dims", ratio=0.3))
    assert _head_dims(model) == [45]


def test_explicit_requests_are_never_rounded():
    model = _vit()
    report = headprune.prune(model, mode="head_dims", dims=list(range(19)))
    assert _head_dims(model) == [45] and report.multiple_of == 1


@pytest.mark.parametrize("bad", [0, -8, 2.5, "8", True])
def test_bad_multiple_of_is_refused(bad):
    model = _vit()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(headprune.RequestError, match="multiple_of"):
        headprune.prune(model, mode="head_dims", ratio=0.3, multiple_of=bad)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())


def test_multiple_of_with_an_explicit_request_is_refused():
    with pytest.raises(headprune.RequestError, match="explicit selection"):
        headprune.prune(_vit(), mode="head_dims", dims=[0], multiple_of=8)


# -- RoPE: whole pairs, the kept pair count decides the width ---------------------------------

def test_rope_ratio_keeps_whole_pairs_with_an_aligned_width():
    model = _llama()
    report = headprune.prune(model, mode="head_dims", ratio=0.3)  # exact: 32 - 10 = 22 pairs (44 dims)
    assert _head_dims(model) == [48, 48]
    kept = report.kept_dims[0]
    assert kept == report.kept_dims[1], "one shared set of pairs"
    assert all((i + 32) % 64 in kept for i in kept), "whole (i, i + 32) pairs"
    assert model.model.rotary_emb.inv_freq.shape[-1] == 24
    model(torch.tensor([[1, 2, 3]]))


def test_partial_rotary_aligns_pairs_plus_pass_through_dims():
    model = _phi()  # head_dim 80: 16 rotary pairs + 48 pass-through dims
    report = headprune.prune(model, mode="head_dims", ratio=0.25)  # exact: 12 pairs + 36 free = 60
    blocks = headprune.attention_blocks(model)
    assert [b.head_dim for b in blocks] == [64, 64]  # 60 is as near 56 as 64: keep more
    for lr, block in zip(report.layers, blocks):
        rotated = [i for i in lr.kept_dims if i < 32]
        assert all((i + 16) % 32 in rotated for i in rotated)
        assert block.rotary_dim == len(rotated) and block.rotary_dim % 2 == 0
    model(torch.tensor([[1, 2, 3]]))


# -- heads mode: widths are heads * head_dim ------------------------------------------------

def test_heads_with_an_aligned_head_dim_are_the_exact_ratio():
    model = _llama(heads=4, kv=4)
    report = headprune.prune(model, ratio=0.25)
    assert [lr.heads_after for lr in report.layers] == [3, 3] and report.notes == ()


def test_heads_of_width_12_go_in_pairs():
    model = _vit(head_dim=12, heads=4)
    report = headprune.prune(model, ratio=0.25)  # exact: keep 3 heads = 36 wide; 2 or 4 align, tie keeps 4
    assert report.layers[0].heads_after == 4 and report.notes
    model = _vit(head_dim=12, heads=4)
    report = headprune.prune(model, ratio=0.5)
    assert report.layers[0].heads_after == 2 and report.notes == ()


def test_gqa_groups_keep_the_kv_width_aligned():
    model = _llama(head_dim=12, heads=8, kv=4)
    report = headprune.prune(model, ratio=0.5, gqa="groups")  # 2 kv heads of 12: 24 wide
    assert [lr.kv_heads_after for lr in report.layers] == [2, 2]
    model = _llama(head_dim=12, heads=8, kv=4)
    report = headprune.prune(model, ratio=0.25, gqa="groups")  # 3 kv heads = 36: keep 4
    assert [lr.kv_heads_after for lr in report.layers] == [4, 4] and len(report.notes) == 2


# -- tiny heads: below 16 dims there is at most one aligned width -----------------------------

@pytest.mark.parametrize("head_dim,kept", [(8, 8), (4, 4), (12, 8), (15, 8)])
def test_tiny_head_dims(head_dim, kept):
    """head_dim <= 8: no aligned width below it, every dim stays (and the report says why);
    8 < head_dim < 16: 8 is the only one."""
    model = _vit(head_dim=head_dim, heads=2)
    if kept == head_dim:
        with pytest.warns(NothingRemovedWarning, match="multiples of 8 keeps every unit"):
            report = headprune.prune(model, mode="head_dims", ratio=0.5)
    else:
        report = headprune.prune(model, mode="head_dims", ratio=0.5)
    assert _head_dims(model) == [kept]
    assert report.notes and f"kept {kept}" in report.notes[0]
    model = _vit(head_dim=head_dim, heads=2)
    headprune.prune(model, mode="head_dims", ratio=0.5, multiple_of=1)
    assert _head_dims(model) == [head_dim - round_half_up(head_dim / 2)]


def test_tiny_rope_head_keeps_every_pair():
    model = _llama(head_dim=8, heads=4, kv=2)
    with pytest.warns(NothingRemovedWarning):
        report = headprune.prune(model, mode="head_dims", ratio=0.5)
    assert _head_dims(model) == [8, 8] and report.notes
