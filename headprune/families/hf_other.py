"""Hugging Face encoder, vision, multimodal and sequence-to-sequence layouts beyond :mod:`.hf`
(see attention-map §10), and torch's own ``nn.MultiheadAttention``."""
from __future__ import annotations

from dataclasses import replace

from .hf import BERT, VIT_4
from .spec import Aligned, Attr, ConfigField, Family, HeadIndexList, Rope

_T = "transformers.models"

# BERT's layout under other class names (each its own description, so each has its own zoo case)
ROBERTA = replace(BERT, name="roberta", classes=(f"{_T}.roberta.modeling_roberta.RobertaAttention",),
                  notes="BERT's layout; views use -1, so the attributes are mirrors.")
ELECTRA = replace(BERT, name="electra", classes=(f"{_T}.electra.modeling_electra.ElectraAttention",),
                  notes="BERT's layout; embeddings_project (embedding_size -> hidden) is not per head.")

DISTILBERT = Family(
    name="distilbert",
    classes=(f"{_T}.distilbert.modeling_distilbert.DistilBertSelfAttention",),
    q="q_lin", k="k_lin", v="v_lin", o="out_lin",
    head_dim_attr="attention_head_size",
    attrs=(Attr("n_heads", "heads"), Attr("attention_head_size", "head_dim"), Attr("scaling", "scaling")),
    config_fields=(ConfigField("n_heads", "heads"),),
    notes="The output projection sits inside the attention module.",
)

ALBERT = Family(
    name="albert",
    classes=(f"{_T}.albert.modeling_albert.AlbertAttention",),
    q="query", k="key", v="value", o="dense",
    head_dim_attr="attention_head_size",
    attrs=(Attr("num_attention_heads", "heads"), Attr("attention_head_size", "head_dim"),
           Attr("all_head_size", "q_width"), Attr("scaling", "scaling")),
    config_fields=(ConfigField("num_attention_heads", "heads"),),
    notes="One module runs every layer (weights shared across depth): it is one block, pruned once.",
)

DEBERTA_V2 = Family(
    name="deberta-v2",
    classes=(f"{_T}.deberta_v2.modeling_deberta_v2.DebertaV2Attention",),
    q="self.query_proj", k="self.key_proj", v="self.value_proj", o="output.dense",
    head_dim_attr="self.attention_head_size",
    # c2p scores are q . pos_key, p2c scores are k . pos_query: both projections have q's row layout
    # and pos_query is a query, so it takes the scale fold too (the scale is recomputed from q's width).
    aligned=(Aligned("self.pos_key_proj", "k"), Aligned("self.pos_query_proj", "q", fold=True)),
    attrs=(Attr("self.num_attention_heads", "heads"), Attr("self.attention_head_size", "head_dim"),
           Attr("self.all_head_size", "q_width")),
    config_fields=(ConfigField("num_attention_heads", "heads"),),
    notes="num_attention_heads is read by the views: stale, the channels are silently re-cut.",
)

MODERNBERT = Family(
    name="modernbert",
    classes=(f"{_T}.modernbert.modeling_modernbert.ModernBertAttention",),
    qkv="Wqkv", o="Wo",
    head_dim_attr="head_dim",
    attrs=(Attr("head_dim", "head_dim"),),
    config_fields=(ConfigField("num_attention_heads", "heads"),),
    rope=Rope(),
    notes="The scale is head_dim**-0.5 computed inline: folded into q. Two rotary tables (full, sliding).",
)

_VIT_LIKE_ATTRS = (Attr("num_attention_heads", "heads"), Attr("head_dim", "head_dim"), Attr("scaling", "scaling"))
_VIT_LIKE_CONFIG = (ConfigField("num_attention_heads", "heads"), ConfigField("head_dim", "head_dim"))

DINOV2 = Family(
    name="dinov2",
    classes=(f"{_T}.dinov2.modeling_dinov2.Dinov2Attention",),
    q="q_proj", k="k_proj", v="v_proj", o="o_proj",
    head_dim_attr="head_dim",
    attrs=_VIT_LIKE_ATTRS,
    config_fields=_VIT_LIKE_CONFIG,
)

BEIT = Family(
    name="beit",
    # The per-head bias table sits next to the attention, in the layer: the block is the layer.
    classes=(f"{_T}.beit.modeling_beit.BeitLayer",),
    q="attention.q_proj", k="attention.k_proj", v="attention.v_proj", o="attention.o_proj",
    head_dim_attr="attention.head_dim",
    per_head=("relative_position_bias.relative_position_bias_table",),
    # A shared model-level table (use_shared_relative_position_bias) is not described: such a
    # model is refused rather than pruned with per-layer head sets the shared table cannot follow.
    parts=("relative_position_bias.relative_position_bias_table",),
    attrs=(Attr("attention.num_attention_heads", "heads"), Attr("attention.head_dim", "head_dim"),
           Attr("attention.scaling", "scaling")),
    config_fields=_VIT_LIKE_CONFIG,
    notes="Per-layer relative-position bias table, one column per head.",
)

_CLIP_ATTRS = (Attr("num_heads", "heads"), Attr("head_dim", "head_dim"), Attr("scale", "scaling"))

CLIP = Family(
    name="clip",
    classes=(f"{_T}.clip.modeling_clip.CLIPAttention",),
    q="q_proj", k="k_proj", v="v_proj", o="out_proj",
    head_dim_attr="head_dim",
    attrs=_CLIP_ATTRS,
    config_fields=(ConfigField("num_attention_heads", "heads"),),
    notes="Text and vision towers each read their own sub-config (text_config, vision_config).",
)

SIGLIP = replace(CLIP, name="siglip", classes=(f"{_T}.siglip.modeling_siglip.SiglipAttention",),
                 notes="The pooling head is an nn.MultiheadAttention (refused); it keeps its heads.")

TORCH_MHA = Family(
    name="torch-mha",
    classes=("torch.nn.modules.activation.MultiheadAttention",),
    o="out_proj",
    refuse=("torch.nn.MultiheadAttention recomputes head_dim as embed_dim // num_heads from the query "
            "width and asserts divisibility, and keeps q/k/v in one raw in_proj_weight: sliced weights "
            "cannot run without replacing the module"),
)

_WHISPER = f"{_T}.whisper.modeling_whisper.WhisperAttention"
_WHISPER_ATTRS = (Attr("num_heads", "heads"), Attr("head_dim", "head_dim"), Attr("scaling", "scaling"))

WHISPER_ENCODER = Family(
    name="whisper-encoder",
    classes=(_WHISPER,),
    where=r"(^|\.)encoder\.",
    q="q_proj", k="k_proj", v="v_proj", o="out_proj",
    head_dim_attr="head_dim",
    attrs=_WHISPER_ATTRS,
    config_fields=(ConfigField("encoder_attention_heads", "heads"),),
    notes="k/v are viewed with num_heads (stale: raises); q is scaled before the view.",
)

WHISPER_DECODER = Family(
    name="whisper-decoder",
    classes=(_WHISPER,),
    where=r"(^|\.)decoder\.",
    q="q_proj", k="k_proj", v="v_proj", o="out_proj",
    head_dim_attr="head_dim",
    attrs=_WHISPER_ATTRS,
    config_fields=(ConfigField("decoder_attention_heads", "heads"),),
    head_index_lists=(HeadIndexList("generation_config.alignment_heads", r"decoder\.layers\.(\d+)\.encoder_attn$"),),
    notes="Self- and cross-attention; the cross K/V cache is built from the pruned projections. "
          "generation_config.alignment_heads (word timestamps) is renumbered with the cross-attention heads.",
)

T5 = Family(
    name="t5",
    classes=(f"{_T}.t5.modeling_t5.T5Attention",),
    q="q", k="k", v="v", o="o",
    head_dim_attr="key_value_proj_dim",
    per_head=("relative_attention_bias.weight",),
    # Block 0 of each stack computes the position bias (or, for cross-attention, a zero bias sized
    # by its n_heads) and passes it to every later block of the stack.
    tie=r"(encoder|decoder)\.block\.\d+\.layer\.(\d+)\.",
    scale_follows_head_dim=False,  # T5 does not scale its scores
    attrs=(Attr("n_heads", "heads"), Attr("key_value_proj_dim", "head_dim"), Attr("inner_dim", "q_width")),
    config_fields=(ConfigField("num_heads", "heads"), ConfigField("d_kv", "head_dim")),
    notes="Encoder self, decoder self and cross-attention each keep one head set across the stack.",
)

# -- transformers 4.x layouts of the same classes (4.57.6; `tox -e tf457` runs their zoo cases) ----
# 4.x keeps no `scaling` attribute on these modules (eager divides by sqrt(head width), sdpa
# uses its default), and CLIP/SigLIP reshape their output with the input width (a forward
# rewrite, which also tells the releases apart: the 5.x forward has no such reshape). Not
# described for 4.x: BEiT (its 4.x relative-position module), ModernBERT (4.x keeps rotary and
# sizes in the module) and DistilBERT (4.x fixes its attention class at construction, so the
# zoo cannot switch its backend): headprune refuses them there with UnknownLayoutError.


def _without_scaling(fam: Family, **changes) -> Family:
    changes.setdefault("attrs", tuple(a for a in fam.attrs if a.value != "scaling"))
    return replace(fam, name=f"{fam.name}-4.x", **changes)


ROBERTA_4 = _without_scaling(ROBERTA)
ELECTRA_4 = _without_scaling(ELECTRA)
ALBERT_4 = _without_scaling(ALBERT)
DINOV2_4 = replace(VIT_4, name="dinov2-4.x", classes=DINOV2.classes,
                   notes="4.x: ViT's 4.x layout (query/key/value one level down, output.dense).")
_INPUT_WIDTH_RESHAPE = (("reshape(batch_size, seq_length, embed_dim)", "reshape(batch_size, seq_length, -1)"),)
CLIP_4 = replace(CLIP, name="clip-4.x", forward_rewrites=_INPUT_WIDTH_RESHAPE,
                 notes="4.x reshapes the output with the input width: the forward is rewritten to use -1.")
SIGLIP_4 = replace(SIGLIP, name="siglip-4.x", forward_rewrites=_INPUT_WIDTH_RESHAPE,
                   notes="4.x reshapes the output with the input width: the forward is rewritten to use -1.")

# CLIP_4 and SIGLIP_4 come before their 5.x descriptions: both fit a 4.x module by attributes,
# and only the 4.x one rewrites its forward; on 5.x its rewrite does not apply, so it does not fit.
FAMILIES = (ROBERTA, ELECTRA, DISTILBERT, ALBERT, DEBERTA_V2, MODERNBERT, DINOV2, BEIT, CLIP_4, CLIP, SIGLIP_4,
            SIGLIP, TORCH_MHA, WHISPER_ENCODER, WHISPER_DECODER, T5,
            ROBERTA_4, ELECTRA_4, ALBERT_4, DINOV2_4)
