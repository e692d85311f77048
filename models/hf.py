"""Builders for the tiny random Hugging Face (transformers 5.24) cases.

One small builder per case.  Every builder constructs a model from a config
(random weights, nothing downloaded) with ``attn_implementation="eager"``;
:func:`models.registry.build` switches the backend on the copy it returns.

Shared conventions for the text models: vocab 99, ``max_position_embeddings``
64, ``pad_token_id`` 0 (``make_inputs`` never samples id 0 for real tokens),
bos 1, eos 2, every dropout probability 0, standard ``"default"`` RoPE with
theta 10000.
"""

from __future__ import annotations

import torch
import transformers as tf

VOCAB = 99
MAX_POS = 64
PAD_ID, BOS_ID, EOS_ID = 0, 1, 2
ROPE = {"rope_type": "default", "rope_theta": 10000.0}

_EAGER = {"attn_implementation": "eager"}

_CAUSAL_COMMON = dict(
    vocab_size=VOCAB,
    num_hidden_layers=2,
    max_position_embeddings=MAX_POS,
    pad_token_id=PAD_ID,
    bos_token_id=BOS_ID,
    eos_token_id=EOS_ID,
    tie_word_embeddings=False,
    attention_dropout=0.0,
    **_EAGER,
)

_VIT_COMMON = dict(
    image_size=32,
    patch_size=8,
    num_channels=3,
    hidden_size=32,
    num_hidden_layers=2,
    num_attention_heads=4,
    intermediate_size=37,
    hidden_dropout_prob=0.0,
    attention_probs_dropout_prob=0.0,
    qkv_bias=True,
    num_labels=3,
    **_EAGER,
)


# ---------------------------------------------------------------- vision


def build_vit() -> torch.nn.Module:
    return tf.ViTForImageClassification(tf.ViTConfig(**_VIT_COMMON))


def build_deit() -> torch.nn.Module:
    return tf.DeiTForImageClassificationWithTeacher(tf.DeiTConfig(**_VIT_COMMON))


def build_swin() -> torch.nn.Module:
    # image 64 / patch 4 -> stage resolutions 16x16 and 8x8, both > window 4,
    # so the odd block of each stage keeps shift_size = window // 2 (HF sets
    # shift to 0 at forward time when min(resolution) <= window_size).
    cfg = tf.SwinConfig(
        image_size=64,
        patch_size=4,
        num_channels=3,
        embed_dim=16,
        depths=[2, 2],
        num_heads=[2, 4],
        window_size=4,
        mlp_ratio=2.0,
        qkv_bias=True,
        hidden_dropout_prob=0.0,
        attention_probs_dropout_prob=0.0,
        drop_path_rate=0.0,
        num_labels=3,
        **_EAGER,
    )
    return tf.SwinForImageClassification(cfg)


# ------------------------------------------------------------------ text


def build_bert() -> torch.nn.Module:
    cfg = tf.BertConfig(
        vocab_size=VOCAB,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=4,
        intermediate_size=37,
        hidden_dropout_prob=0.0,
        attention_probs_dropout_prob=0.0,
        classifier_dropout=0.0,
        max_position_embeddings=MAX_POS,
        type_vocab_size=2,
        pad_token_id=PAD_ID,
        num_labels=3,
        **_EAGER,
    )
    return tf.BertForSequenceClassification(cfg)


def _llama(hidden: int, heads: int, kv_heads: int) -> torch.nn.Module:
    cfg = tf.LlamaConfig(
        hidden_size=hidden,
        intermediate_size=64,
        num_attention_heads=heads,
        num_key_value_heads=kv_heads,
        head_dim=8,
        rope_parameters=dict(ROPE),
        **_CAUSAL_COMMON,
    )
    return tf.LlamaForCausalLM(cfg)


def build_llama() -> torch.nn.Module:
    return _llama(hidden=32, heads=4, kv_heads=4)


def build_llama_gqa() -> torch.nn.Module:
    return _llama(hidden=64, heads=8, kv_heads=2)


def build_llama_mqa() -> torch.nn.Module:
    return _llama(hidden=64, heads=8, kv_heads=1)


def build_phi() -> torch.nn.Module:
    # 5.24: partial_rotary_factor belongs inside rope_parameters (a top-level
    # kwarg is moved there too; PhiConfig.__post_init__ defaults it to 0.5).
    cfg = tf.PhiConfig(
        hidden_size=64,
        intermediate_size=64,
        num_attention_heads=4,
        num_key_value_heads=4,
        rope_parameters=dict(ROPE, partial_rotary_factor=0.5),
        qk_layernorm=False,
        resid_pdrop=0.0,
        embd_pdrop=0.0,
        **_CAUSAL_COMMON,
    )
    return tf.PhiForCausalLM(cfg)


def _phi3(hidden: int, heads: int, kv_heads: int) -> torch.nn.Module:
    # Phi3Config defaults pad/eos to 32000 (> our vocab): overridden via
    # _CAUSAL_COMMON.  sliding_window defaults to None (kept explicit).
    cfg = tf.Phi3Config(
        hidden_size=hidden,
        intermediate_size=64,
        num_attention_heads=heads,
        num_key_value_heads=kv_heads,
        rope_parameters=dict(ROPE, partial_rotary_factor=1.0),
        original_max_position_embeddings=MAX_POS,
        sliding_window=None,
        resid_pdrop=0.0,
        embd_pdrop=0.0,
        **_CAUSAL_COMMON,
    )
    return tf.Phi3ForCausalLM(cfg)


def build_phi3() -> torch.nn.Module:
    return _phi3(hidden=32, heads=4, kv_heads=4)


def build_phi3_gqa() -> torch.nn.Module:
    return _phi3(hidden=64, heads=8, kv_heads=2)


def build_qwen2() -> torch.nn.Module:
    # Qwen2Attention hard-codes bias=True on q/k/v (o_proj has none).
    cfg = tf.Qwen2Config(
        hidden_size=64,
        intermediate_size=64,
        num_attention_heads=8,
        num_key_value_heads=2,
        rope_parameters=dict(ROPE),
        use_sliding_window=False,
        **_CAUSAL_COMMON,
    )
    return tf.Qwen2ForCausalLM(cfg)


def build_qwen3() -> torch.nn.Module:
    cfg = tf.Qwen3Config(
        hidden_size=64,
        intermediate_size=64,
        num_attention_heads=8,
        num_key_value_heads=2,
        head_dim=8,
        attention_bias=False,
        rope_parameters=dict(ROPE),
        use_sliding_window=False,
        **_CAUSAL_COMMON,
    )
    return tf.Qwen3ForCausalLM(cfg)
