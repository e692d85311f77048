"""Builders for the tiny random timm (1.0.31) cases.

Models are built with ``timm.create_model(arch, pretrained=False, **small)``:
the architecture name only selects the class and defaults, nothing is
downloaded.  timm picks ``fused_attn`` from the environment at construction
(swin's WindowAttention defaults to the *unfused* path because it asks for
``use_fused_attn(experimental=True)``); :func:`models.registry.build` always
sets it explicitly through ``set_attention_backend``.
"""

from __future__ import annotations

import timm
import torch

_VIT_SMALL = dict(
    pretrained=False,
    img_size=32,
    patch_size=8,
    embed_dim=32,
    depth=2,
    num_heads=4,
    mlp_ratio=2.0,
    qkv_bias=True,
    num_classes=3,
    drop_rate=0.0,
    proj_drop_rate=0.0,
    attn_drop_rate=0.0,
    drop_path_rate=0.0,
)


def build_timm_vit() -> torch.nn.Module:
    return timm.create_model("vit_tiny_patch16_224", **_VIT_SMALL)


def build_timm_deit() -> torch.nn.Module:
    # VisionTransformerDistilled: cls + dist tokens, two heads.
    return timm.create_model("deit_tiny_distilled_patch16_224", **_VIT_SMALL)


def build_timm_swin() -> torch.nn.Module:
    # img 64 / patch 4 -> stage feature maps 16x16 and 8x8.  timm
    # (_calc_window_shift) zeroes the shift and clamps the window when
    # resolution <= window, so window 4 keeps shift 2 in the odd block of
    # both stages.
    return timm.create_model(
        "swin_tiny_patch4_window7_224",
        pretrained=False,
        img_size=64,
        patch_size=4,
        embed_dim=16,
        depths=(2, 2),
        num_heads=(2, 4),
        window_size=4,
        mlp_ratio=2.0,
        qkv_bias=True,
        num_classes=3,
        drop_rate=0.0,
        proj_drop_rate=0.0,
        attn_drop_rate=0.0,
        drop_path_rate=0.0,
    )


_TINY = dict(pretrained=False, img_size=32, patch_size=8, embed_dim=32, depth=2, num_heads=4, mlp_ratio=2.0,
             num_classes=3, drop_rate=0.0, proj_drop_rate=0.0, attn_drop_rate=0.0, drop_path_rate=0.0)


def build_timm_eva() -> torch.nn.Module:
    # EVA-02: fused qkv with separate q/v biases (k_bias a zero buffer), timm's own RoPE
    return timm.create_model("eva02_tiny_patch14_224", **_TINY)


def build_timm_beit() -> torch.nn.Module:
    # one relative-position bias table per block
    return timm.create_model("beit_base_patch16_224", **_TINY)


def build_timm_convit() -> torch.nn.Module:
    # 1 gated positional block (GPSA: fused qk, separate v, per-head pos_proj row and gate) then
    # 1 plain block (MHSA); ConViT's embed_dim is per head: 8 * 4 heads = width 32
    return timm.create_model("convit_tiny", **{**_TINY, "embed_dim": 8}, local_up_to_layer=1, qkv_bias=True)


def convit_casts_with_the_model() -> bool:
    """GPSA keeps its relative indices as a buffer (timm 1.0.2x+), so .to(dtype) converts them."""
    import inspect

    from timm.models.convit import GPSA

    return "register_buffer('rel_indices'" in inspect.getsource(GPSA.__init__)


def build_timm_cait() -> torch.nn.Module:
    # 2 talking-heads blocks (refused: they mix heads) then 2 class-attention blocks (pruned)
    return timm.create_model("cait_xxs24_224", **_TINY, depth_token_only=2)
