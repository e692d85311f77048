"""Third-party pruners behind the conformance contract (optional extras: each imports its library).

``torch_pruning``  Torch-Pruning, driven as its examples do (entry point ``torch-pruning``)
``hf_prune_heads`` transformers 4.x ``PreTrainedModel.prune_heads`` (entry point ``hf-prune-heads``)
"""
