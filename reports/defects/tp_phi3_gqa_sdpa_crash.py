"""Torch-Pruning 1.6.1: head pruning crashes on Phi-3 with GQA traced through sdpa attention.

prune_llm.py's recipe (num_heads[qkv_proj] = num_attention_heads on the fused [q | k | v]
projection) on a 2-layer, 64-wide Phi3ForCausalLM with 8 query and 2 kv heads, attention
"sdpa" (the transformers default): GroupMagnitudeImportance indexes row 96 of the 96-row fused
projection (IndexError). With attention "eager" (the zoo's) it runs, and the suite then finds
pruned heads that mix rows of different original heads (check_kept_heads_exact,
check_gqa_pairing: ``python -m suites.repro --pruner torch-pruning phi3-gqa heads-ratio
check_gqa_pairing``). Exit 1 while the crash reproduces.

    python reports/defects/tp_phi3_gqa_sdpa_crash.py
"""
import sys

import torch
import torch_pruning as tp
import transformers as tf

if __name__ == "__main__":
    torch.manual_seed(0)
    cfg = tf.Phi3Config(vocab_size=64, hidden_size=64, intermediate_size=64, num_hidden_layers=2,
                        num_attention_heads=8, num_key_value_heads=2, use_cache=False, pad_token_id=0,
                        bos_token_id=1, eos_token_id=2)
    model = tf.Phi3ForCausalLM(cfg).eval()
    qkv = [layer.self_attn.qkv_proj for layer in model.model.layers]
    try:
        pruner = tp.pruner.BasePruner(
            model, torch.randint(3, 64, (1, 7)),
            importance=tp.importance.GroupMagnitudeImportance(p=2, group_reduction="mean"),
            output_transform=lambda x: x.logits, pruning_ratio=0.5,
            ignored_layers=[m for m in model.modules() if isinstance(m, (torch.nn.Linear, torch.nn.Embedding))
                            and m not in qkv],  # heads only: keep the hidden size
            num_heads={p: cfg.num_attention_heads for p in qkv},  # as prune_llm.py
            prune_num_heads=True, prune_head_dims=False, head_pruning_ratio=0.5)
        for group in pruner.step(interactive=True):
            group.prune()
    except IndexError as exc:
        print(f"DEFECT: head pruning raised IndexError: {exc}")
        sys.exit(1)
    print("pruned: qkv rows now", qkv[0].weight.shape[0], "(fixed?)")
