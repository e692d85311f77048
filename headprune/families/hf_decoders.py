"""Hugging Face decoder layouts beyond the core ones in :mod:`.hf` (see attention-map §10).

Each description was checked against a tiny random model by the conformance suite (zoo cases
in ``models/hf_decoders.py``), eager and sdpa, with ``generate()`` on dynamic and static caches.
"""
from __future__ import annotations

from .hf import _DECODER_ATTRS, _DECODER_CONFIG
from .spec import Attr, ConfigField, Family, PerHead, Requires, Rope

_T = "transformers.models"

_PARTIAL_ROTARY = ConfigField("rope_parameters.partial_rotary_factor", "rotary_fraction",
                              fallbacks=("partial_rotary_factor",))


def _llama_like(name: str, cls: str, notes: str, **extra) -> Family:
    """Llama's projections, attributes and config fields (GQA through num_key_value_groups, RoPE)."""
    return Family(name=name, classes=(f"{_T}.{cls}",), q="q_proj", k="k_proj", v="v_proj", o="o_proj",
                  head_dim_attr="head_dim", attrs=_DECODER_ATTRS, config_fields=_DECODER_CONFIG,
                  rope=extra.pop("rope", Rope()), notes=notes, **extra)


GPT2 = Family(
    name="gpt2",
    classes=(f"{_T}.gpt2.modeling_gpt2.GPT2Attention",),
    qkv="c_attn", o="c_proj", transposed=True,
    head_dim_attr="head_dim",
    attrs=(Attr("num_heads", "heads"), Attr("head_dim", "head_dim"), Attr("split_size", "q_width"),
           Attr("scaling", "scaling")),
    config_fields=(ConfigField("n_head", "heads", fallbacks=("num_attention_heads",)),),
    requires=(Requires("is_cross_attention", False,
                       "cross-attention keeps q in q_attn and only [k | v] in c_attn; not described"),),
    notes="Conv1D projections (weight [in, out]): c_attn keeps columns [q | k | v], c_proj keeps rows. "
          "split_size splits the fused output; the scale may include 1/(layer_idx + 1).",
)

GPT_NEOX = Family(
    name="gpt-neox",
    classes=(f"{_T}.gpt_neox.modeling_gpt_neox.GPTNeoXAttention",),
    qkv="query_key_value", qkv_layout="per_head", o="dense",
    head_dim_attr="head_size",
    attrs=(Attr("head_size", "head_dim"), Attr("rotary_ndims", "rotary_dim"), Attr("scaling", "scaling")),
    config_fields=(ConfigField("num_attention_heads", "heads"), ConfigField("head_dim", "head_dim"),
                   _PARTIAL_ROTARY),
    rope=Rope(rotary_dim_attr="rotary_ndims"),
    notes="Fused rows per head [q_h | k_h | v_h]; partial rotary (the width comes from the sliced inv_freq).",
)

OPT = Family(
    name="opt",
    classes=(f"{_T}.opt.modeling_opt.OPTAttention",),
    q="q_proj", k="k_proj", v="v_proj", o="out_proj",
    head_dim_attr="head_dim",
    attrs=(Attr("num_heads", "heads"), Attr("head_dim", "head_dim"), Attr("scaling", "scaling")),
    config_fields=(ConfigField("num_attention_heads", "heads"),),
    notes="Views (bsz, -1, num_heads, d): a stale num_heads re-cuts the sequence silently under sdpa.",
)

_FALCON_ATTRS = (Attr("num_heads", "heads"), Attr("num_kv_heads", "kv_heads"), Attr("head_dim", "head_dim"))
_NO_ALIBI = Requires("config.alibi", False,
                     "ALiBi slopes are computed from the model's head count, so kept heads would get "
                     "other heads' slopes")
_FALCON = f"{_T}.falcon.modeling_falcon.FalconAttention"

FALCON = Family(
    name="falcon",
    classes=(_FALCON,),
    qkv="query_key_value", qkv_layout="grouped", o="dense",
    head_dim_attr="head_dim",
    attrs=_FALCON_ATTRS,
    config_fields=(ConfigField("num_attention_heads", "heads"), ConfigField("num_kv_heads", "kv_heads")),
    rope=Rope(),
    requires=(_NO_ALIBI, Requires("new_decoder_architecture", True)),
    notes="new_decoder_architecture: fused rows per kv group [q x (H/KV) | k | v]; the cache holds H heads.",
)

FALCON_MQA = Family(
    name="falcon-mqa",
    classes=(_FALCON,),
    qkv="query_key_value", o="dense",
    head_dim_attr="head_dim",
    attrs=_FALCON_ATTRS,
    config_fields=(ConfigField("num_attention_heads", "heads"),),  # config.num_kv_heads is not read
    rope=Rope(),
    requires=(_NO_ALIBI, Requires("new_decoder_architecture", False), Requires("multi_query", True)),
    notes="multi_query: fused rows [q H*d | k d | v d]; only query heads can go.",
)

FALCON_MHA = Family(
    name="falcon-mha",
    classes=(_FALCON,),
    qkv="query_key_value", qkv_layout="per_head", o="dense",
    head_dim_attr="head_dim",
    attrs=_FALCON_ATTRS,
    config_fields=(ConfigField("num_attention_heads", "heads"), ConfigField("num_kv_heads", "kv_heads")),
    rope=Rope(),
    requires=(_NO_ALIBI, Requires("new_decoder_architecture", False), Requires("multi_query", False)),
    notes="Old architecture without multi_query: fused rows per head [q_h | k_h | v_h].",
)

MISTRAL = _llama_like("mistral", "mistral.modeling_mistral.MistralAttention",
                      "Llama's layout; sliding_window is read from the config.")
MIXTRAL = _llama_like("mixtral", "mixtral.modeling_mixtral.MixtralAttention",
                      "Llama's layout; config.head_dim is None until synced (needed to reload).")
GEMMA = _llama_like("gemma", "gemma.modeling_gemma.GemmaAttention",
                    "head_dim is a config field independent of hidden_size; often MQA.")
GEMMA2 = _llama_like("gemma2", "gemma2.modeling_gemma2.Gemma2Attention",
                     "Scale query_pre_attn_scalar^-0.5 (not d^-0.5), logit soft-capping; eager only.")
GEMMA3 = _llama_like("gemma3", "gemma3.modeling_gemma3.Gemma3Attention",
                     "q_norm/k_norm over d (head_dims inexact); two rotary tables (sliding, full), both sliced.",
                     qk_norms=("q_norm", "k_norm"))
QWEN2_MOE = _llama_like("qwen2-moe", "qwen2_moe.modeling_qwen2_moe.Qwen2MoeAttention",
                        "Llama's layout with q/k/v biases (qkv_bias); the experts see only hidden states.")
QWEN3_MOE = _llama_like("qwen3-moe", "qwen3_moe.modeling_qwen3_moe.Qwen3MoeAttention",
                        "As Qwen3: q_norm/k_norm over d (head_dims inexact).", qk_norms=("q_norm", "k_norm"))
COHERE = _llama_like(
    "cohere", "cohere.modeling_cohere.CohereAttention",
    "Interleaved RoPE, pairs (2i, 2i + 1). use_qk_norm: LayerNorms with one weight row per head "
    "(q [H, d], k [KV, d]), re-indexed with the heads; over d, so head_dims is inexact.",
    qk_norms=("q_norm", "k_norm"),
    per_head=(PerHead("q_norm.weight", axis=0), PerHead("k_norm.weight", axis=0, kv=True)),
    rope=Rope(interleaved=True))

STABLELM = Family(
    name="stablelm",
    classes=(f"{_T}.stablelm.modeling_stablelm.StableLmAttention",),
    q="q_proj", k="k_proj", v="v_proj", o="o_proj",
    head_dim_attr="head_dim",
    qk_norms=("q_layernorm", "k_layernorm"),
    per_head=(PerHead("q_layernorm.norms"), PerHead("k_layernorm.norms", kv=True)),
    attrs=_DECODER_ATTRS + (Attr("num_heads", "heads"), Attr("num_key_value_heads", "kv_heads"),
                            Attr("rotary_ndims", "rotary_dim")),
    config_fields=_DECODER_CONFIG + (_PARTIAL_ROTARY,),
    rope=Rope(rotary_dim_attr="rotary_ndims"),
    notes="Views with num_heads/num_key_value_heads; partial rotary read from rotary_ndims; qk_layernorm: "
          "one LayerNorm(d) per head in ModuleLists, re-indexed with the heads (zip() would truncate silently).",
)

FAMILIES = (GPT2, GPT_NEOX, OPT, FALCON, FALCON_MQA, FALCON_MHA, MISTRAL, MIXTRAL, GEMMA, GEMMA2, GEMMA3,
            QWEN2_MOE, QWEN3_MOE, COHERE, STABLELM)
