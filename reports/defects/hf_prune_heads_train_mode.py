"""transformers 4.57.6: prune_heads leaves the replaced projections in train mode inside an eval model.

prune_linear_layer builds each replacement nn.Linear fresh, and a new module starts in train
mode; the pruned model mixes eval and train modules (model.training is still False), so any
training-dependent child added later, or code that reads the flags, sees the wrong mode.
Caught by check_untouched (bert, vit, deit). Exit 1 while the defect reproduces.

    python reports/defects/hf_prune_heads_train_mode.py    # needs transformers 4.x
"""
import sys

import transformers as tf

if __name__ == "__main__":
    cfg = tf.BertConfig(vocab_size=64, hidden_size=32, num_hidden_layers=1, num_attention_heads=4,
                        intermediate_size=32)
    model = tf.BertModel(cfg).eval()
    model.prune_heads({0: [1]})
    in_train = [name for name, module in model.named_modules() if module.training]
    print("modules in train mode after prune_heads on an eval model:", in_train)
    if in_train:
        print("DEFECT: the replaced projections are in train mode")
        sys.exit(1)
