"""Decoder layouts beyond the core: the row descriptors against the models' own code, and the
variants headprune refuses by design (each named, the model left untouched)."""
from __future__ import annotations

import pytest
import torch
import transformers as tf

import headprune
import models
from headprune.families.spec import qkv_row_index
from models import hf_decoders
from tests.hp_support import Snapshot


@pytest.mark.parametrize("builder", ["build_falcon", "build_falcon_mqa", "build_falcon_mha"])
def test_fused_row_index_matches_falcons_own_split(builder):
    """Falcon's ``_split_heads`` on a fused output whose entry r is r: every (role, head, dim)
    gets the row our layout descriptor says it does."""
    model = getattr(hf_decoders, builder)()
    block = headprune.attention_blocks(model)[0]
    attn = block.module
    rows = attn.query_key_value.out_features
    q, k, v = attn._split_heads(torch.arange(rows, dtype=torch.float64).view(1, 1, rows))
    d = attn.head_dim
    k, v = k[0, 0], v[0, 0]
    if attn.new_decoder_architecture:  # k/v are broadcast to every query head: one per kv group
        k, v = k[::block.groups], v[::block.groups]
    want = qkv_row_index(block.family.qkv_layout, block.num_heads, block.num_kv_heads, d)
    got = {"q": q[0, 0].reshape(-1), "k": k.reshape(-1), "v": v.reshape(-1)}
    for role in ("q", "k", "v"):
        assert got[role].long().tolist() == want[role], role


def _state(model):
    return {k: v.clone() for k, v in model.state_dict().items()}, model.config.to_dict()


def _assert_same(model, state):
    weights, config = state
    now = model.state_dict()
    assert now.keys() == weights.keys() and all(torch.equal(now[k], v) for k, v in weights.items())
    assert model.config.to_dict() == config


def test_falcon_alibi_is_refused_naming_the_reason():
    cfg = tf.FalconConfig(vocab_size=99, hidden_size=32, num_attention_heads=4, num_hidden_layers=2,
                          alibi=True, multi_query=True, attn_implementation="eager")
    model = tf.FalconForCausalLM(cfg)
    before = _state(model)
    with pytest.raises(headprune.UnknownLayoutError, match="ALiBi slopes"):
        headprune.prune(model, {0: [1]})
    _assert_same(model, before)


def test_gpt2_cross_attention_is_refused():
    """Cross-attention fuses only [k | v] in c_attn; read as [q | k | v] it would pass for GQA."""
    cfg = tf.GPT2Config(vocab_size=99, n_embd=32, n_layer=2, n_head=4, add_cross_attention=True,
                        attn_implementation="eager")
    model = tf.GPT2LMHeadModel(cfg)
    before = _state(model)
    with pytest.raises(headprune.UnknownLayoutError, match="is_cross_attention"):
        headprune.prune(model, {0: [1]})
    _assert_same(model, before)


def test_cohere_rotate_half_pairs_are_refused():
    """Cohere pairs (2i, 2i + 1): dims (1, 5), a pair under rotate_half, split two pairs."""
    model = models.build("cohere")
    snap = Snapshot(model)
    with pytest.raises(headprune.RopePairError, match="interleaved"):
        headprune.prune(model, mode="head_dims", dims=[1, 5])
    snap.assert_unchanged()
    report = headprune.prune(model, mode="head_dims", dims=[2, 3])
    assert all(layer.kept_dims == (0, 1, 4, 5, 6, 7) for layer in report.layers)
    assert model.model.rotary_emb.inv_freq.shape == (3,)


def test_gemma3_slices_both_rotary_tables():
    model = models.build("gemma3")
    before = {n: b.clone() for n, b in model.model.rotary_emb.named_buffers() if n.endswith("inv_freq")}
    assert len(before) == 4  # sliding/full, each with its original_ twin
    headprune.prune(model, mode="head_dims", dims=[1, 5], allow_inexact=True)  # q_norm/k_norm: inexact
    for name, buf in model.model.rotary_emb.named_buffers():
        if name.endswith("inv_freq"):
            assert torch.equal(buf, before[name][[0, 2, 3]]), name


@pytest.mark.parametrize("name", ["cohere-qknorm", "stablelm-qknorm"])
def test_per_head_norms_refuse_head_dims(name):
    model = models.build(name)
    snap = Snapshot(model)
    with pytest.raises(headprune.InexactPruningError):
        headprune.prune(model, mode="head_dims", dims=[0, 1] if name == "cohere-qknorm" else [1, 3])
    snap.assert_unchanged()
