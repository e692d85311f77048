"""transformers 4.57.6: prune_heads turns a float64 (or float16/bfloat16) model's attention weights
into float32.

prune_linear_layer builds the replacement nn.Linear in the default dtype and copies the kept
rows into it, so the pruned projections silently change dtype (the rest of the model keeps
its own). Caught by check_dtype_device (bert, vit, deit). Exit 1 while the defect reproduces.

    python reports/defects/hf_prune_heads_dtype.py    # needs transformers 4.x
"""
import sys

import torch
import transformers as tf

if __name__ == "__main__":
    cfg = tf.BertConfig(vocab_size=64, hidden_size=32, num_hidden_layers=1, num_attention_heads=4,
                        intermediate_size=32)
    model = tf.BertModel(cfg).double()
    model.prune_heads({0: [1]})
    q = model.encoder.layer[0].attention.self.query.weight
    print("query weight dtype after prune_heads:", q.dtype, "(model: float64)")
    if q.dtype != torch.float64:
        print("DEFECT: the pruned projection changed dtype")
        sys.exit(1)
