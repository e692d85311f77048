"""Torch-Pruning 1.6.1: an MQA layer asked to keep one query head is silently left unpruned.

With num_key_value_heads=1, a per-layer head ratio of 7/8 (keep 1 of 8 query heads) on layer 1
leaves that layer at 8 heads, with no error or warning, while 4/8 on layer 0 works.
Caught by check_request_honoured (property test). Exit 1 while the defect reproduces.

    python reports/defects/tp_mqa_one_head.py
"""
import sys

import torch
import torch_pruning as tp
import transformers as tf

if __name__ == "__main__":
    torch.manual_seed(0)
    cfg = tf.LlamaConfig(vocab_size=64, hidden_size=64, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=8, num_key_value_heads=1, head_dim=8, use_cache=False)
    model = tf.LlamaForCausalLM(cfg).eval()
    layers = [l.self_attn for l in model.model.layers]
    num_heads = {}
    for m in layers:
        num_heads[m.q_proj], num_heads[m.k_proj], num_heads[m.v_proj] = 8, 1, 1
    keep = {p for m in layers for p in (m.q_proj, m.k_proj, m.v_proj)}
    ignored = [m for m in model.modules() if isinstance(m, (torch.nn.Linear, torch.nn.Embedding)) and m not in keep]
    pruner = tp.pruner.BasePruner(model, torch.randint(1, 64, (1, 7)),
                                  importance=tp.importance.GroupMagnitudeImportance(p=2),
                                  output_transform=lambda x: x.logits, pruning_ratio=0.5, ignored_layers=ignored,
                                  num_heads=num_heads, prune_num_heads=True, prune_head_dims=False,
                                  head_pruning_ratio_dict={layers[0]: 4 / 8, layers[1]: 7 / 8})
    for group in pruner.step(interactive=True):
        group.prune()
    heads = [m.q_proj.out_features // 8 for m in layers]
    print("query heads per layer after pruning:", heads, "(asked: [4, 1])")
    if heads[1] != 1:
        print("DEFECT: the layer asked to keep one query head was not pruned, silently")
        sys.exit(1)
