"""Torch-Pruning 1.6.1 (examples/transformers/prune_timm_vit.py): after head_dims pruning a timm ViT
computes different attention on its eager and fused (sdpa) paths.

The example's forward scales q by ``self.scale`` on the eager path (still 1/sqrt(original
head_dim)) but calls scaled_dot_product_attention with its default scale (1/sqrt(new head_dim))
on the fused path, and its attribute updates leave ``scale`` alone. Same weights, same input,
two answers. Caught by check_kept_heads_exact (sdpa). Exit 1 while the defect reproduces.

    python reports/defects/tp_timm_head_dims_scale.py
"""
import sys

import timm
import torch
import torch.nn.functional as F
import torch_pruning as tp


def forward(self, x, attn_mask=None, is_causal=False):  # the example's forward (+ timm 1.0.31's arguments)
    B, N, C = x.shape
    qkv = self.qkv(x).reshape(B, N, 3, self.num_heads, self.head_dim).permute(2, 0, 3, 1, 4)
    q, k, v = qkv.unbind(0)
    q, k = self.q_norm(q), self.k_norm(k)
    if self.fused_attn:
        x = F.scaled_dot_product_attention(q, k, v, dropout_p=self.attn_drop.p)
    else:
        q = q * self.scale
        attn = (q @ k.transpose(-2, -1)).softmax(dim=-1)
        x = attn @ v
    x = x.transpose(1, 2).reshape(B, N, -1)
    return self.proj_drop(self.proj(x))


if __name__ == "__main__":
    torch.manual_seed(0)
    model = timm.create_model("vit_tiny_patch16_224", pretrained=False, img_size=32, patch_size=8, embed_dim=32,
                              depth=1, num_heads=4, num_classes=3).eval()
    attns = [m for m in model.modules() if isinstance(m, timm.models.vision_transformer.Attention)]
    for m in attns:
        m.qkv.weight.data *= 20  # trained-like sharp attention (timm's init is nearly uniform)
        m.forward = forward.__get__(m, type(m))
    x = torch.randn(1, 3, 32, 32)
    pruner = tp.pruner.BasePruner(model, x, importance=tp.importance.GroupMagnitudeImportance(p=2),
                                  pruning_ratio=0.5, ignored_layers=[model.head],
                                  num_heads={m.qkv: m.num_heads for m in attns}, prune_num_heads=False,
                                  prune_head_dims=True, round_to=1)
    for group in pruner.step(interactive=True):
        group.prune()
    for m in attns:  # the example's updates
        m.num_heads = pruner.num_heads[m.qkv]
        m.head_dim = m.qkv.out_features // (3 * m.num_heads)
    with torch.no_grad():
        for m in attns:
            m.fused_attn = True
        fused = model(x)
        for m in attns:
            m.fused_attn = False
        eager = model(x)
    gap = float((fused - eager).abs().max())
    print(f"head_dim {attns[0].head_dim}, scale {attns[0].scale:.4f}; max |fused - eager| = {gap:.3g}")
    if gap > 1e-5:
        print("DEFECT: the eager and fused paths disagree after head_dims pruning")
        sys.exit(1)
