"""Torch-Pruning 1.6.1: BasePruner never returns on Phi (partial rotary), even with use_cache=False.

The prune_llm.py recipe on a 2-layer, 64-wide PhiForCausalLM: the constructor spins in
DependencyGraph.get_all_groups (the partial-rotary split/cat of each head's dims feeds index
mappings that never settle). Llama of the same size returns in about a second.
Exit 1 while the defect reproduces.

    python reports/defects/tp_phi_hang.py
"""
import signal
import sys

import torch
import torch_pruning as tp
import transformers as tf

LIMIT_S = 60


def build():
    torch.manual_seed(0)
    cfg = tf.PhiConfig(vocab_size=64, hidden_size=64, intermediate_size=64, num_hidden_layers=2,
                       num_attention_heads=4, num_key_value_heads=4, use_cache=False)
    return tf.PhiForCausalLM(cfg).eval()


class Hung(Exception):
    pass


def on_alarm(*_):
    raise Hung


if __name__ == "__main__":
    model = build()
    num_heads = {}
    for name, m in model.named_modules():
        if name.endswith("self_attn"):
            num_heads[m.q_proj] = model.config.num_attention_heads
            num_heads[m.k_proj] = num_heads[m.v_proj] = model.config.num_key_value_heads
    signal.signal(signal.SIGALRM, on_alarm)
    signal.alarm(LIMIT_S)
    try:
        pruner = tp.pruner.BasePruner(model, torch.randint(1, 64, (1, 7)),
                                      importance=tp.importance.GroupMagnitudeImportance(p=2),
                                      global_pruning=False, output_transform=lambda x: x.logits,
                                      pruning_ratio=0.5, ignored_layers=[model.lm_head], num_heads=num_heads,
                                      prune_num_heads=True, prune_head_dims=False, head_pruning_ratio=0.5)
    except Hung:
        print(f"DEFECT: BasePruner(PhiForCausalLM) did not return within {LIMIT_S} s")
        sys.exit(1)
    print("constructed (fixed)")
