"""Torch-Pruning 1.6.1 (examples/transformers/prune_hf_swin.py) cannot prune a transformers 5.x Swin.

The example's SwinPatchMergingPruner reads ``layer.dim``, which SwinPatchMerging no longer has
in transformers 5.x, so building the pruner raises AttributeError before anything is pruned.
Caught by every Swin check (the pruner raised). Exit 1 while the defect reproduces.

    python reports/defects/tp_swin_example_patch_merging.py
"""
import sys

import torch
import torch.nn as nn
import torch_pruning as tp
import transformers as tf
from transformers.models.swin.modeling_swin import SwinPatchMerging


class SwinPatchMergingPruner(tp.BasePruningFunc):  # verbatim from the example
    def prune_out_channels(self, layer, idxs):
        tp.prune_linear_out_channels(layer.reduction, idxs)
        return layer

    def prune_in_channels(self, layer, idxs):
        dim = layer.dim
        idxs_repeated = idxs + [i + dim for i in idxs] + [i + 2 * dim for i in idxs] + [i + 3 * dim for i in idxs]
        tp.prune_linear_in_channels(layer.reduction, idxs_repeated)
        tp.prune_layernorm_out_channels(layer.norm, idxs_repeated)
        return layer

    def get_out_channels(self, layer):
        return layer.reduction.out_features

    def get_in_channels(self, layer):
        return layer.dim


if __name__ == "__main__":
    torch.manual_seed(0)
    cfg = tf.SwinConfig(image_size=32, patch_size=4, embed_dim=16, depths=[1, 1], num_heads=[2, 4], window_size=4,
                        num_labels=3)
    model = tf.SwinForImageClassification(cfg).eval()
    attn = [m for m in model.modules() if type(m).__name__ in ("SwinSelfAttention", "SwinAttention")
            and (hasattr(m, "query") or hasattr(m, "q_proj"))]  # 4.x: SwinAttention wraps SwinSelfAttention
    num_heads = {}
    for m in attn:
        q, k, v = (m.query, m.key, m.value) if hasattr(m, "query") else (m.q_proj, m.k_proj, m.v_proj)
        num_heads[q] = num_heads[k] = num_heads[v] = m.num_attention_heads
    try:
        pruner = tp.pruner.BasePruner(model, torch.randn(1, 3, 32, 32),
                                      importance=tp.importance.MagnitudeImportance(p=2, group_reduction="mean"),
                                      pruning_ratio=0.5, num_heads=num_heads, output_transform=lambda o: o.logits.sum(),
                                      ignored_layers=[model.classifier],
                                      customized_pruners={SwinPatchMerging: SwinPatchMergingPruner()},
                                      root_module_types=(nn.Linear, nn.LayerNorm, SwinPatchMerging))
    except AttributeError as exc:
        print(f"DEFECT ({tf.__version__}): the example's pruner raised AttributeError: {exc}")
        sys.exit(1)
    print(f"constructed on transformers {tf.__version__}")
