"""head_dims under RoPE scaling variants: frequencies fixed at load are sliced exactly; types that
recompute them from the config at run time are refused, untouched."""
from __future__ import annotations

import copy

import pytest
import torch
from transformers import LlamaConfig, LlamaForCausalLM

import headprune
from models.registry import _make_visible
from suites.checks.oracle import dims_oracle

ROPE = {
    "default": dict(rope_type="default", rope_theta=10000.0),
    "linear": dict(rope_type="linear", rope_theta=10000.0, factor=2.0),
    "llama3": dict(rope_type="llama3", rope_theta=10000.0, factor=8.0, low_freq_factor=1.0, high_freq_factor=4.0,
                   original_max_position_embeddings=16),
    "yarn": dict(rope_type="yarn", rope_theta=10000.0, factor=4.0, original_max_position_embeddings=16),
    "dynamic": dict(rope_type="dynamic", rope_theta=10000.0, factor=2.0),
    "longrope": dict(rope_type="longrope", rope_theta=10000.0, short_factor=[1.0] * 4, long_factor=[2.0] * 4,
                     original_max_position_embeddings=8),
}


def _llama(rope):
    torch.manual_seed(0)
    config = LlamaConfig(vocab_size=99, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=4, head_dim=8, max_position_embeddings=64,
                         pad_token_id=0, rope_parameters=ROPE[rope])
    model = LlamaForCausalLM(config).eval()
    _make_visible(model)
    return model


@pytest.mark.parametrize("rope", ["default", "linear", "llama3", "yarn"])
def test_static_rope_types_prune_exactly(rope):
    model, ids = _llama(rope), torch.randint(1, 99, (2, 20))
    pruned = copy.deepcopy(model)
    headprune.prune(pruned, mode="head_dims", dims=[1, 5])
    oracle = dims_oracle(model, {0: (1, 5), 1: (1, 5)})
    with torch.no_grad():
        got, want, before = pruned(input_ids=ids).logits, oracle(input_ids=ids).logits, model(input_ids=ids).logits
    assert (got - want).abs().max() < 1e-5 * max(1.0, float(want.abs().max()))
    assert (before - want).abs().max() > 1e-3


@pytest.mark.parametrize("rope", ["dynamic", "longrope"])
def test_run_time_rope_types_are_refused_untouched(rope):
    model = _llama(rope)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    buffers = {k: v.clone() for k, v in model.named_buffers()}
    with pytest.raises(headprune.UnsupportedRopeError, match=rope):
        headprune.prune(model, mode="head_dims", dims=[1, 5])
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert all(torch.equal(buffers[k], v) for k, v in model.named_buffers())
    headprune.prune(model, {0: [1]})  # whole heads do not touch the frequencies
