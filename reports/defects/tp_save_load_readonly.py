"""Torch-Pruning 1.6.1: tp.state_dict / tp.load_state_dict crash on transformers 5.x models.

tp.state_dict records every public non-callable attribute of every module and
tp.load_state_dict sets them back with setattr; transformers 5.x models expose read-only
properties (``can_record_outputs``), so loading into a fresh model raises AttributeError.
Caught by check_save_load. Exit 1 while the defect reproduces.

    python reports/defects/tp_save_load_readonly.py
"""
import sys

import torch
import torch_pruning as tp
import transformers as tf

if __name__ == "__main__":
    cfg = tf.BertConfig(vocab_size=64, hidden_size=32, num_hidden_layers=1, num_attention_heads=4,
                        intermediate_size=32, num_labels=3)
    model = tf.BertForSequenceClassification(cfg)
    state = tp.state_dict(model)
    try:
        tp.load_state_dict(tf.BertForSequenceClassification(cfg), state_dict=state)
    except AttributeError as exc:
        print(f"DEFECT: tp.load_state_dict raised AttributeError: {exc}")
        sys.exit(1)
    print("loaded (fixed)", torch.__version__)
