"""Builders for the tiny random decoder cases beyond the core (transformers 5.24).

Same conventions as :mod:`models.hf`: vocab 99, 2 layers, hidden <= 64, every dropout 0,
``"default"`` RoPE with theta 10000 (Gemma3's full-attention table: 1e6), eager attention at
construction. Where a layout has a trap, the config is chosen so that a mistake shows: Gemma's
head_dim is not hidden/heads, Gemma2's softmax scale is not head_dim^-0.5 and its soft cap is
small enough to bite, GPT-2 scales by the inverse layer index, sliding windows (4) are shorter
than the test inputs.
"""

from __future__ import annotations

import torch
import transformers as tf

from .hf import _CAUSAL_COMMON, BOS_ID, EOS_ID, MAX_POS, PAD_ID, ROPE, VOCAB

_NO_DROPOUT_GPT = dict(resid_pdrop=0.0, embd_pdrop=0.0, attn_pdrop=0.0)
_TF5 = int(tf.__version__.split(".")[0]) >= 5


def build_gpt2() -> torch.nn.Module:
    cfg = tf.GPT2Config(
        vocab_size=VOCAB, n_positions=MAX_POS, n_embd=32, n_layer=2, n_head=4, n_inner=64,
        scale_attn_by_inverse_layer_idx=True,  # the scale depends on the layer: a recomputed one shows
        pad_token_id=PAD_ID, bos_token_id=BOS_ID, eos_token_id=EOS_ID, tie_word_embeddings=False,
        attn_implementation="eager", **_NO_DROPOUT_GPT,
    )
    return tf.GPT2LMHeadModel(cfg)


def build_gpt_neox() -> torch.nn.Module:
    cfg = tf.GPTNeoXConfig(
        hidden_size=64, intermediate_size=64, num_attention_heads=4,
        rope_parameters=dict(ROPE, partial_rotary_factor=0.25),  # rotary 4 of head_dim 16
        attention_bias=True, hidden_dropout=0.0, classifier_dropout=0.0, **_CAUSAL_COMMON,
    )
    return tf.GPTNeoXForCausalLM(cfg)


def build_opt() -> torch.nn.Module:
    cfg = tf.OPTConfig(
        hidden_size=32, ffn_dim=64, num_attention_heads=4, word_embed_proj_dim=32, enable_bias=True,
        dropout=0.0, activation_dropout=0.0, layerdrop=0.0, **_CAUSAL_COMMON,
    )
    return tf.OPTForCausalLM(cfg)


def _falcon(hidden: int, heads: int, kv_heads: int, *, new_arch: bool, multi_query: bool) -> torch.nn.Module:
    cfg = tf.FalconConfig(
        hidden_size=hidden, num_attention_heads=heads, num_kv_heads=kv_heads, ffn_hidden_size=64,
        new_decoder_architecture=new_arch, multi_query=multi_query, parallel_attn=True, bias=True,
        alibi=False, rope_parameters=dict(ROPE), hidden_dropout=0.0, **_CAUSAL_COMMON,
    )
    return tf.FalconForCausalLM(cfg)


def build_falcon() -> torch.nn.Module:
    """new_decoder_architecture: fused rows [q_g1 .. q_gn | k_g | v_g] per kv group."""
    return _falcon(64, 8, 2, new_arch=True, multi_query=False)


def build_falcon_mqa() -> torch.nn.Module:
    """Falcon-7B style: multi_query, fused rows [q H*d | k d | v d]."""
    return _falcon(32, 4, 4, new_arch=False, multi_query=True)


def build_falcon_mha() -> torch.nn.Module:
    """Old architecture without multi_query: fused rows [q_h | k_h | v_h] per head."""
    return _falcon(32, 4, 4, new_arch=False, multi_query=False)


def build_mistral() -> torch.nn.Module:
    cfg = tf.MistralConfig(
        hidden_size=64, intermediate_size=64, num_attention_heads=8, num_key_value_heads=2, head_dim=8,
        sliding_window=4, rope_parameters=dict(ROPE), **_CAUSAL_COMMON,
    )
    return tf.MistralForCausalLM(cfg)


def build_mixtral() -> torch.nn.Module:
    cfg = tf.MixtralConfig(
        hidden_size=32, intermediate_size=32, num_attention_heads=4, num_key_value_heads=2,
        num_local_experts=2, num_experts_per_tok=2, router_jitter_noise=0.0,
        rope_parameters=dict(ROPE), **_CAUSAL_COMMON,
    )
    return tf.MixtralForCausalLM(cfg)


def build_gemma() -> torch.nn.Module:
    # MQA, head_dim 16 while hidden / heads = 8, q/k/v/o biases
    cfg = tf.GemmaConfig(
        hidden_size=32, intermediate_size=64, num_attention_heads=4, num_key_value_heads=1, head_dim=16,
        attention_bias=True, rope_parameters=dict(ROPE), **_CAUSAL_COMMON,
    )
    return tf.GemmaForCausalLM(cfg)


def build_gemma2() -> torch.nn.Module:
    cfg = tf.Gemma2Config(
        hidden_size=32, intermediate_size=64, num_attention_heads=4, num_key_value_heads=2, head_dim=16,
        query_pre_attn_scalar=24,        # scale 24^-0.5, not head_dim^-0.5
        attn_logit_softcapping=5.0, final_logit_softcapping=30.0,
        sliding_window=4, layer_types=["sliding_attention", "full_attention"],
        rope_parameters=dict(ROPE), **_CAUSAL_COMMON,
    )
    return tf.Gemma2ForCausalLM(cfg)


def build_gemma3() -> torch.nn.Module:
    cfg = tf.Gemma3TextConfig(
        hidden_size=32, intermediate_size=64, num_attention_heads=4, num_key_value_heads=2, head_dim=8,
        query_pre_attn_scalar=12, sliding_window=4, layer_types=["sliding_attention", "full_attention"],
        rope_parameters={"sliding_attention": dict(ROPE),
                         "full_attention": {"rope_type": "default", "rope_theta": 1e6}},
        **_CAUSAL_COMMON,
    )
    return tf.Gemma3ForCausalLM(cfg)


def build_qwen2_moe() -> torch.nn.Module:
    cfg = tf.Qwen2MoeConfig(
        hidden_size=32, intermediate_size=32, num_attention_heads=4, num_key_value_heads=2, qkv_bias=True,
        num_experts=4, num_experts_per_tok=2, moe_intermediate_size=16, shared_expert_intermediate_size=16,
        use_sliding_window=False, rope_parameters=dict(ROPE), **_CAUSAL_COMMON,
    )
    return tf.Qwen2MoeForCausalLM(cfg)


def build_qwen3_moe() -> torch.nn.Module:
    cfg = tf.Qwen3MoeConfig(
        hidden_size=32, intermediate_size=32, num_attention_heads=4, num_key_value_heads=2, head_dim=8,
        num_experts=4, num_experts_per_tok=2, moe_intermediate_size=16, use_sliding_window=False,
        rope_parameters=dict(ROPE), **_CAUSAL_COMMON,
    )
    return tf.Qwen3MoeForCausalLM(cfg)


def _distinct_head_norms(model: torch.nn.Module) -> torch.nn.Module:
    """Per-head q/k norm weights start as ones, all heads alike, so a norm handed to the wrong head
    would not show: draw them around 1 (the zoo's redraw only touches linears and all-zero tensors)."""
    with torch.no_grad():
        for name, p in model.named_parameters():
            if any(part in name for part in ("q_norm.", "k_norm.", "q_layernorm.", "k_layernorm.")):
                p.normal_(1.0, 0.5)
    return model


def _cohere(hidden: int, heads: int, kv_heads: int, qk_norm: bool) -> torch.nn.Module:
    cfg = tf.CohereConfig(
        hidden_size=hidden, intermediate_size=64, num_attention_heads=heads, num_key_value_heads=kv_heads,
        use_qk_norm=qk_norm, rope_parameters=dict(ROPE), **_CAUSAL_COMMON,
    )
    return _distinct_head_norms(tf.CohereForCausalLM(cfg))


def build_cohere() -> torch.nn.Module:
    """Interleaved RoPE, pairs (2i, 2i + 1); no qk norm, so head_dims can be exact."""
    return _cohere(32, 4, 4, qk_norm=False)


def build_cohere_qknorm() -> torch.nn.Module:
    """Per-head q_norm [H, d] and k_norm [KV, d] (LayerNorms over d), GQA."""
    return _cohere(64, 8, 2, qk_norm=True)


def _stablelm(hidden: int, heads: int, kv_heads: int, factor: float, *, qk_layernorm: bool,
              qkv_bias: bool) -> torch.nn.Module:
    cfg = tf.StableLmConfig(
        hidden_size=hidden, intermediate_size=64, num_attention_heads=heads, num_key_value_heads=kv_heads,
        rope_parameters=dict(ROPE, partial_rotary_factor=factor), qk_layernorm=qk_layernorm,
        use_qkv_bias=qkv_bias, hidden_dropout=0.0, **_CAUSAL_COMMON,
        **({} if _TF5 else {"partial_rotary_factor": factor}),  # 4.x reads it at the top level
    )
    return _distinct_head_norms(tf.StableLmForCausalLM(cfg))


def build_stablelm() -> torch.nn.Module:
    """Partial rotary 0.25 (4 of head_dim 16), q/k/v biases."""
    return _stablelm(64, 4, 4, 0.25, qk_layernorm=False, qkv_bias=True)


def build_stablelm_qknorm() -> torch.nn.Module:
    """One LayerNorm(d) per q head and per kv head (ModuleLists), GQA, partial rotary 0.5."""
    return _stablelm(64, 8, 2, 0.5, qk_layernorm=True, qkv_bias=False)
