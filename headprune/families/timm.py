"""timm 1.0.x attention layouts: fused ``qkv`` with rows [q | k | v]."""
from __future__ import annotations

from .spec import Attr, Family

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

FAMILIES = (TIMM_ATTENTION, TIMM_SWIN)
