"""timm 1.0.x attention layouts: fused ``qkv`` with rows [q | k | v]."""
from __future__ import annotations

from dataclasses import replace

from .spec import Aligned, Attr, Family, PerHead, Rope

TIMM_ATTENTION = Family(
    name="timm-attention",
    classes=("timm.layers.attention.Attention",),
    qkv="qkv", o="proj",
    head_dim_attr="head_dim",
    qk_norms=("q_norm", "k_norm"),
    width_norm="norm",
    o_aligned=("gate",),
    attrs=(
        Attr("num_heads", "heads"),
        Attr("head_dim", "head_dim"),
        Attr("attn_dim", "q_width"),
        Attr("scale", "scaling"),
    ),
    notes="The fused path calls SDPA with its default scale and ignores `scale`; the scale is folded into q.",
)

TIMM_SWIN = Family(
    name="timm-swin",
    classes=("timm.models.swin_transformer.WindowAttention",),
    qkv="qkv", o="proj",
    per_head=("relative_position_bias_table",),
    attrs=(Attr("num_heads", "heads"), Attr("scale", "scaling")),
    stage_pattern=r"layers\.(\d+)\.",
)

# EVA and BEiT reshape the attention output with the input width C, which is no longer
# heads * head_dim after pruning: their forward is rewritten to reshape with -1.
_OUTPUT_RESHAPE = (("x.transpose(1, 2).reshape(B, N, C)", "x.transpose(1, 2).reshape(B, N, -1)"),)
_QKV_BIASES = (Aligned("q_bias", "q", fold=True), Aligned("k_bias", "k"), Aligned("v_bias", "v"))

TIMM_EVA = Family(
    name="timm-eva",
    classes=("timm.models.eva.EvaAttention",),
    qkv="qkv", o="proj",
    head_dim_attr="head_dim",
    qk_norms=("q_norm", "k_norm"),
    width_norm="norm",
    aligned=_QKV_BIASES,
    attrs=(Attr("num_heads", "heads"), Attr("head_dim", "head_dim"), Attr("scale", "scaling")),
    forward_rewrites=_OUTPUT_RESHAPE,
    rope=Rope(interleaved=True),
    notes="q_bias, v_bias (parameters) and k_bias (a zero buffer) are laid out like the q, k, v rows. "
          "RoPE: one cached [tokens, sin | cos] table (timm RotaryEmbeddingCat) for every block, interleaved "
          "pairs (2i, 2i + 1); head_dims keeps whole pairs, the same in every block, and slices its columns "
          "(dynamic_img_size rebuilds the table at run time: refused).",
)

TIMM_BEIT = Family(
    name="timm-beit",
    classes=("timm.models.beit.Attention",),
    qkv="qkv", o="proj",
    per_head=("relative_position_bias_table",),
    parts=("relative_position_bias_table",),  # the shared model-level table is not described
    aligned=_QKV_BIASES,
    attrs=(Attr("num_heads", "heads"), Attr("scale", "scaling")),
    forward_rewrites=_OUTPUT_RESHAPE,
    notes="Per-block relative-position bias table, one column per head.",
)

TIMM_CAIT_TALKING_HEADS = Family(
    name="timm-cait-talking-heads",
    classes=("timm.models.cait.TalkingHeadAttn",),
    o="proj",
    refuse=("talking heads: proj_l and proj_w mix all heads before and after the softmax, so a head is "
            "not a unit; q/k, softmax channels and v are three head axes the stock forward ties to one count"),
)

TIMM_CAIT_CLASS_ATTN = Family(
    name="timm-cait-class-attn",
    classes=("timm.models.cait.ClassAttn",),
    q="q", k="k", v="v", o="proj",
    attrs=(Attr("num_heads", "heads"), Attr("scale", "scaling")),
    forward_rewrites=(("C // self.num_heads", "-1"), ("reshape(B, 1, C)", "reshape(B, 1, -1)")),
    notes="Class attention (the CLS token attends to all tokens); its heads are independent.",
)

# ConViT reshapes with the per-head width C // num_heads and the input width C in forward (and,
# for GPSA, in get_attention), neither of which follows the pruned layout.
_CONVIT_RESHAPES = (("C // self.num_heads", "-1"), ("reshape(B, N, C)", "reshape(B, N, -1)"))

TIMM_CONVIT_GPSA = Family(
    name="timm-convit-gpsa",
    classes=("timm.models.convit.GPSA",),
    qkv="qk", qkv_layout="qk", v="v", o="proj",
    per_head=(PerHead("pos_proj", axis=0), PerHead("gating_param", axis=0)),
    attrs=(Attr("num_heads", "heads"), Attr("scale", "scaling")),
    forward_rewrites=_CONVIT_RESHAPES,
    rewritten_methods=("forward", "get_attention"),
    notes="Gated positional self-attention: fused `qk` rows [q | k] and a separate `v`; each head gates its "
          "own content and positional softmax (`pos_proj` row, `gating_param` entry), so heads stay independent.",
)

TIMM_CONVIT_MHSA = Family(
    name="timm-convit-mhsa",
    classes=("timm.models.convit.MHSA",),
    qkv="qkv", o="proj",
    attrs=(Attr("num_heads", "heads"), Attr("scale", "scaling")),
    forward_rewrites=_CONVIT_RESHAPES,
    notes="ConViT's later blocks: fused `qkv` [q | k | v], always eager with `self.scale`.",
)

# -- timm 1.0.15 (the oldest release pyproject declares; `tox -e timm1015` runs their zoo cases) --
# ViT's Attention still lives in timm.models.vision_transformer, without attn_dim, norm or gate,
# and reshapes its output with the input width C; EvaAttention keeps no head_dim attribute.
TIMM_ATTENTION_1015 = replace(
    TIMM_ATTENTION,
    name="timm-attention-timm1.0.15",
    classes=("timm.models.vision_transformer.Attention",),
    width_norm=None, o_aligned=(),
    attrs=(Attr("num_heads", "heads"), Attr("head_dim", "head_dim"), Attr("scale", "scaling")),
    forward_rewrites=_OUTPUT_RESHAPE,
    notes="timm 1.0.15: the output is reshaped with the input width (rewritten to -1); the fused path "
          "ignores `scale`, so the scale is folded into q.",
)
TIMM_EVA_1015 = replace(TIMM_EVA, name="timm-eva-timm1.0.15", head_dim_attr=None,
                        attrs=(Attr("num_heads", "heads"), Attr("scale", "scaling")),
                        notes="timm 1.0.15: no head_dim attribute (the width comes from num_heads).")

FAMILIES = (TIMM_ATTENTION, TIMM_SWIN, TIMM_EVA, TIMM_BEIT, TIMM_CAIT_TALKING_HEADS, TIMM_CAIT_CLASS_ATTN,
            TIMM_CONVIT_GPSA, TIMM_CONVIT_MHSA, TIMM_ATTENTION_1015, TIMM_EVA_1015)
