"""Hugging Face decoder layouts beyond the core ones in :mod:`.hf` (see attention-map §10).

Each description was checked against a tiny random model by the conformance suite (zoo cases
in ``models/hf_decoders.py``), eager and sdpa, with ``generate()`` on dynamic and static caches.
"""
from __future__ import annotations

from dataclasses import replace

from .hf import _DECODER_ATTRS, _DECODER_CONFIG, LLAMA
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

# -- transformers 4.x layouts of the same classes (4.57.6; `tox -e tf457` runs their zoo cases) ----
# Listed after the 5.x descriptions; discovery takes the first description that fits a module.
# 4.x has no `scaling` attribute on these modules: eager divides by sqrt(head_dim) (GPT-2: by
# sqrt of v's width), sdpa uses its default, so a shrunk head_dim takes the scale fold in q.
# Qwen2-MoE and StableLM still have per-backend subclasses (`...SdpaAttention`), described
# through their base class, and reshape their output with `hidden_size`: synced to heads * d.

GPT2_4 = Family(
    name="gpt2-4.x",
    classes=GPT2.classes,
    qkv=GPT2.qkv, o=GPT2.o, transposed=True,
    head_dim_attr="head_dim",
    attrs=tuple(a for a in GPT2.attrs if a.value != "scaling"),
    config_fields=GPT2.config_fields,
    requires=GPT2.requires,
    notes="4.x: no `scaling` attribute; eager divides by sqrt(v width), sdpa uses its default.",
)

_QWEN2_MOE_4_CLASSES = tuple(f"{_T}.qwen2_moe.modeling_qwen2_moe.{c}" for c in
                             ("Qwen2MoeAttention", "Qwen2MoeSdpaAttention", "Qwen2MoeFlashAttention2"))
_ATTRS_4 = (Attr("head_dim", "head_dim"), Attr("num_key_value_groups", "groups"), Attr("num_heads", "heads"),
            Attr("num_key_value_heads", "kv_heads"), Attr("hidden_size", "q_width"))

QWEN2_MOE_4 = replace(LLAMA, name="qwen2-moe-4.x", classes=_QWEN2_MOE_4_CLASSES, attrs=_ATTRS_4,
                      notes="4.x: checks the output against num_heads and reshapes it with hidden_size "
                            "(both synced).")

STABLELM_4 = Family(
    name="stablelm-4.x",
    classes=tuple(f"{_T}.stablelm.modeling_stablelm.{c}" for c in
                  ("StableLmAttention", "StableLmSdpaAttention", "StableLmFlashAttention2")),
    q="q_proj", k="k_proj", v="v_proj", o="o_proj",
    head_dim_attr="head_dim",
    qk_norms=STABLELM.qk_norms,
    per_head=STABLELM.per_head,
    attrs=_ATTRS_4 + (Attr("rotary_ndims", "rotary_dim"),),
    config_fields=STABLELM.config_fields,
    rope=Rope(rotary_dim_attr="rotary_ndims"),
    notes="4.x: views with num_heads/num_key_value_heads and reshapes the output with hidden_size (all synced).",
)

FAMILIES = (GPT2, GPT_NEOX, OPT, FALCON, FALCON_MQA, FALCON_MHA, MISTRAL, MIXTRAL, GEMMA, GEMMA2, GEMMA3,
            QWEN2_MOE, QWEN3_MOE, COHERE, STABLELM, GPT2_4, QWEN2_MOE_4, STABLELM_4)
