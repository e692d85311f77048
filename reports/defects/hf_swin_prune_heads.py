"""transformers 4.57.6: SwinForImageClassification.prune_heads raises AttributeError.

SwinModel._prune_heads indexes self.encoder.layer, which Swin does not have (its encoder has
layers[stage].blocks[block]); and slicing each block's q/k/v alone would leave the per-head
relative_position_bias_table unsliced. Exit 1 while the defect reproduces.

    python reports/defects/hf_swin_prune_heads.py    # needs transformers 4.x
"""
import sys

import torch
import transformers as tf

if __name__ == "__main__":
    torch.manual_seed(0)
    cfg = tf.SwinConfig(image_size=32, patch_size=4, embed_dim=16, depths=[1, 1], num_heads=[2, 4], window_size=4,
                        num_labels=3)
    model = tf.SwinForImageClassification(cfg).eval()
    try:
        model.prune_heads({0: [0]})
    except AttributeError as exc:
        print(f"DEFECT: prune_heads({{0: [0]}}) raised AttributeError: {exc}")
        sys.exit(1)
    print("pruned; forward:", model(torch.randn(1, 3, 32, 32)).logits.shape)
