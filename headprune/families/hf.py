"""Hugging Face transformers 5.x attention layouts (see shared/docs/attention-map.md §1-2)."""
from __future__ import annotations

from .spec import Attr, ConfigField, Family, Rope

_T = "transformers.models"

VIT = Family(
    name="vit",
    classes=(f"{_T}.vit.modeling_vit.ViTAttention", f"{_T}.deit.modeling_deit.DeiTAttention"),
    q="q_proj", k="k_proj", v="v_proj", o="o_proj",
    head_dim_attr="head_dim",
    attrs=(Attr("num_attention_heads", "heads"), Attr("head_dim", "head_dim"), Attr("scaling", "scaling")),
    config_fields=(ConfigField("num_attention_heads", "heads"), ConfigField("head_dim", "head_dim")),
    notes="ViT and DeiT share one attention class layout; views use -1 so the attributes are mirrors.",
)

SWIN = Family(
    name="swin",
    classes=(f"{_T}.swin.modeling_swin.SwinAttention",),
    q="q_proj", k="k_proj", v="v_proj", o="o_proj",
    head_dim_attr="head_dim",
    per_head=("relative_position_bias.relative_position_bias_table",),
    attrs=(Attr("num_attention_heads", "heads"), Attr("head_dim", "head_dim"), Attr("scaling", "scaling")),
    config_fields=(ConfigField("num_heads", "heads", per_stage=True),),
    stage_pattern=r"\.layers\.(\d+)\.",
    notes="The relative-position bias table has one column per head and is added to the scores.",
)

BERT = Family(
    name="bert",
    classes=(f"{_T}.bert.modeling_bert.BertAttention",),
    q="self.query", k="self.key", v="self.value", o="output.dense",
    head_dim_attr="self.attention_head_size",
    attrs=(
        Attr("self.num_attention_heads", "heads"),
        Attr("self.attention_head_size", "head_dim"),
        Attr("self.all_head_size", "q_width"),
        Attr("self.scaling", "scaling"),
    ),
    config_fields=(ConfigField("num_attention_heads", "heads"),),
)

_DECODER_CONFIG = (
    ConfigField("num_attention_heads", "heads"),
    ConfigField("num_key_value_heads", "kv_heads"),
    ConfigField("head_dim", "head_dim"),
)
_DECODER_ATTRS = (
    Attr("head_dim", "head_dim"),
    Attr("num_key_value_groups", "groups"),
    Attr("scaling", "scaling"),
)

LLAMA = Family(
    name="llama",
    classes=(
        f"{_T}.llama.modeling_llama.LlamaAttention",
        f"{_T}.qwen2.modeling_qwen2.Qwen2Attention",
    ),
    q="q_proj", k="k_proj", v="v_proj", o="o_proj",
    head_dim_attr="head_dim",
    attrs=_DECODER_ATTRS,
    config_fields=_DECODER_CONFIG,
    rope=Rope(),
    notes="Llama and Qwen2 share the layout; Qwen2 has q/k/v biases, which are sliced with the rows.",
)

QWEN3 = Family(
    name="qwen3",
    classes=(f"{_T}.qwen3.modeling_qwen3.Qwen3Attention",),
    q="q_proj", k="k_proj", v="v_proj", o="o_proj",
    head_dim_attr="head_dim",
    qk_norms=("q_norm", "k_norm"),
    attrs=_DECODER_ATTRS,
    config_fields=_DECODER_CONFIG,
    rope=Rope(),
    notes="q_norm/k_norm are RMSNorms over one head's dims: head-dim pruning cannot be exact.",
)

PHI = Family(
    name="phi",
    classes=(f"{_T}.phi.modeling_phi.PhiAttention",),
    q="q_proj", k="k_proj", v="v_proj", o="dense",
    head_dim_attr="head_dim",
    qk_norms=("q_layernorm", "k_layernorm"),
    attrs=_DECODER_ATTRS + (Attr("rotary_ndims", "rotary_dim"),),
    config_fields=_DECODER_CONFIG + (
        ConfigField("rope_parameters.partial_rotary_factor", "rotary_fraction",
                    fallbacks=("partial_rotary_factor",)),  # 4.x keeps it at the top level
    ),
    rope=Rope(rotary_dim_attr="rotary_ndims"),
    notes="Partial rotary: only the first rotary_ndims dims of each head rotate; the rest pass through.",
)

PHI3 = Family(
    name="phi3",
    classes=(f"{_T}.phi3.modeling_phi3.Phi3Attention",),
    qkv="qkv_proj", o="o_proj",
    head_dim_attr="head_dim",
    attrs=_DECODER_ATTRS + (Attr("num_key_value_heads", "kv_heads"),),
    config_fields=_DECODER_CONFIG,
    # Phi-3 splits the fused rows with `self.config.num_attention_heads`: each module gets
    # its own overlay of the shared config so layers may differ.
    private_config=(
        ConfigField("num_attention_heads", "heads"),
        ConfigField("num_key_value_heads", "kv_heads"),
        ConfigField("head_dim", "head_dim"),
    ),
    rope=Rope(),
)

# -- transformers 4.x layouts: same class names, the projections one level down ------------------
# Listed after the 5.x descriptions; discovery takes the first description that fits a module.

VIT_4 = Family(
    name="vit-4.x",
    classes=VIT.classes,
    q="attention.query", k="attention.key", v="attention.value", o="output.dense",
    head_dim_attr="attention.attention_head_size",
    attrs=(
        Attr("attention.num_attention_heads", "heads"),
        Attr("attention.attention_head_size", "head_dim"),
        Attr("attention.all_head_size", "q_width"),
        Attr("attention.scaling", "scaling"),
    ),
    config_fields=(ConfigField("num_attention_heads", "heads"),),
    notes="4.x views with num_attention_heads and reshapes with all_head_size: both must be synced.",
)

SWIN_4 = Family(
    name="swin-4.x",
    classes=SWIN.classes,
    q="self.query", k="self.key", v="self.value", o="output.dense",
    head_dim_attr="self.attention_head_size",
    per_head=("self.relative_position_bias_table",),
    attrs=(
        Attr("self.num_attention_heads", "heads"),
        Attr("self.attention_head_size", "head_dim"),
        Attr("self.all_head_size", "q_width"),
    ),
    config_fields=SWIN.config_fields,
    stage_pattern=SWIN.stage_pattern,
    notes="4.x reads num_attention_heads in the shifted-window mask path and scales by sqrt(attention_head_size).",
)

BERT_4 = Family(
    name="bert-4.x",
    classes=BERT.classes,
    q=BERT.q, k=BERT.k, v=BERT.v, o=BERT.o,
    head_dim_attr=BERT.head_dim_attr,
    attrs=tuple(a for a in BERT.attrs if a.value != "scaling"),
    config_fields=BERT.config_fields,
    notes="4.x has no `scaling` attribute: eager divides by sqrt(attention_head_size), sdpa uses its default.",
)

FAMILIES = (VIT, SWIN, BERT, LLAMA, QWEN3, PHI, PHI3, VIT_4, SWIN_4, BERT_4)
