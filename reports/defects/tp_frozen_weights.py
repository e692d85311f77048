"""Torch-Pruning 1.6.1: pruning makes frozen weights trainable again.

A ViT whose q projection is frozen (requires_grad=False) comes back from BasePruner with a
q weight that requires grad: the pruned tensor is wrapped in a fresh nn.Parameter. Caught by
check_dtype_device. Exit 1 while the defect reproduces.

    python reports/defects/tp_frozen_weights.py
"""
import sys

import torch
import torch_pruning as tp
from torch import nn

if __name__ == "__main__":
    torch.manual_seed(0)
    model = nn.Sequential(nn.Linear(8, 8), nn.ReLU(), nn.Linear(8, 4))
    model[0].weight.requires_grad_(False)
    pruner = tp.pruner.BasePruner(model, torch.randn(1, 8), importance=tp.importance.MagnitudeImportance(p=2),
                                  pruning_ratio=0.5, ignored_layers=[model[2]])
    pruner.step()
    print("weight", tuple(model[0].weight.shape), "requires_grad:", model[0].weight.requires_grad)
    if model[0].weight.requires_grad:
        print("DEFECT: a frozen weight came back trainable")
        sys.exit(1)
