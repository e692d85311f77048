"""Torch-Pruning 1.6.1: BasePruner never returns on a transformers 5.x decoder traced with its KV cache on.

examples/LLMs/prune_llm.py builds the pruner on the model as loaded (config.use_cache=True).
On a 2-layer, 32-wide Llama the constructor spins in DependencyGraph.get_all_groups for ever;
with use_cache=False it returns in about a second. Exit 1 while the defect reproduces.

    python reports/defects/tp_decoder_cache_hang.py
"""
import signal
import sys

import torch
import torch_pruning as tp
import transformers as tf

LIMIT_S = 60


def build(use_cache: bool):
    torch.manual_seed(0)
    cfg = tf.LlamaConfig(vocab_size=64, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                         num_attention_heads=4, num_key_value_heads=4, use_cache=use_cache)
    return tf.LlamaForCausalLM(cfg).eval()


def prune(model) -> None:
    attn = [m for name, m in model.named_modules() if name.endswith("self_attn")]
    num_heads = {}
    for m in attn:  # as prune_llm.py
        num_heads[m.q_proj] = model.config.num_attention_heads
        num_heads[m.k_proj] = num_heads[m.v_proj] = model.config.num_key_value_heads
    pruner = tp.pruner.BasePruner(model, torch.randint(1, 64, (1, 7)),
                                  importance=tp.importance.GroupMagnitudeImportance(p=2, group_reduction="mean"),
                                  global_pruning=False, output_transform=lambda x: x.logits, pruning_ratio=0.5,
                                  ignored_layers=[model.lm_head], num_heads=num_heads, prune_num_heads=True,
                                  prune_head_dims=False, head_pruning_ratio=0.5, round_to=4)
    for group in pruner.step(interactive=True):
        group.prune()


class Hung(Exception):
    pass


def on_alarm(*_):
    raise Hung


if __name__ == "__main__":
    signal.signal(signal.SIGALRM, on_alarm)
    prune(build(use_cache=False))
    print("use_cache=False: pruned")
    signal.alarm(LIMIT_S)
    try:
        prune(build(use_cache=True))
    except Hung:
        print(f"DEFECT: use_cache=True: BasePruner did not return within {LIMIT_S} s")
        sys.exit(1)
    print("use_cache=True: pruned (fixed)")
