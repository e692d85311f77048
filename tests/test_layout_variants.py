"""Layout options the zoo does not carry: timm qk_norm / scale_attn_norm / gated attention and
Phi's qk_layernorm. Whole-head removal stays exact where the norm is per head; shrinking
head_dim under a per-head norm, or anything under a norm over all heads, is refused unless
allow_inexact=True."""
from __future__ import annotations

import copy

import pytest
import torch
from timm.layers import Attention
from timm.models.vision_transformer import VisionTransformer
from transformers import PhiConfig, PhiForCausalLM

import headprune
from suites.checks.oracle import heads_oracle

HEADS = {0: [1, 2]}


def _vit(**kwargs):
    torch.manual_seed(0)
    return VisionTransformer(img_size=32, patch_size=8, embed_dim=32, depth=1, num_heads=4, num_classes=3,
                             **kwargs).eval()


def _phi():
    torch.manual_seed(0)
    config = PhiConfig(vocab_size=99, hidden_size=64, intermediate_size=64, num_hidden_layers=1,
                       num_attention_heads=4, qk_layernorm=True, pad_token_id=0)
    return PhiForCausalLM(config).eval()


def _run(model, x):
    with torch.no_grad():
        out = model(**x) if isinstance(x, dict) else model(x)
    return getattr(out, "logits", out)


def _exact_after_heads(model, x):
    pruned = copy.deepcopy(model)
    headprune.prune(pruned, HEADS)
    want = _run(heads_oracle(model, HEADS), x)
    assert (_run(pruned, x) - want).abs().max() < 1e-5
    assert (_run(model, x) - want).abs().max() > 1e-4  # the oracle differs from the unpruned model


def test_timm_qk_norm_heads_exact_head_dims_refused():
    model, x = _vit(qk_norm=True), torch.randn(2, 3, 32, 32)
    _exact_after_heads(model, x)
    before = copy.deepcopy(model.state_dict())
    with pytest.raises(headprune.InexactPruningError, match="q_norm, k_norm"):
        headprune.prune(model, mode="head_dims", dims=[0, 1])
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    headprune.prune(model, mode="head_dims", dims=[0, 1], allow_inexact=True)
    attn = model.blocks[0].attn
    assert attn.q_norm.weight.shape == (6,) and attn.head_dim == 6
    assert _run(model, x).shape == (2, 3)


def test_timm_scale_norm_refuses_even_whole_heads():
    model, x = _vit(scale_attn_norm=True), torch.randn(2, 3, 32, 32)
    with pytest.raises(headprune.InexactPruningError, match="'norm' normalises over all heads"):
        headprune.prune(model, HEADS)
    headprune.prune(model, HEADS, allow_inexact=True)
    attn = model.blocks[0].attn
    assert attn.norm.weight.shape == (16,) and attn.attn_dim == 16
    assert _run(model, x).shape == (2, 3)


def test_timm_gated_attention_slices_the_gate():
    torch.manual_seed(0)
    model = torch.nn.Sequential(Attention(dim=32, num_heads=4, gated=True, qkv_bias=True)).eval()
    _exact_after_heads(model, torch.randn(2, 5, 32))
    pruned = copy.deepcopy(model)
    headprune.prune(pruned, HEADS)
    assert pruned[0].gate.out_features == 16


def test_phi_qk_layernorm_heads_exact_head_dims_refused():
    model = _phi()
    x = {"input_ids": torch.randint(1, 99, (2, 6)), "attention_mask": torch.ones(2, 6, dtype=torch.long)}
    _exact_after_heads(model, x)
    with pytest.raises(headprune.InexactPruningError, match="q_layernorm, k_layernorm"):
        headprune.prune(model, mode="head_dims", dims=[8])
