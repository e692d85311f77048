"""Defects the conformance suite found in third-party pruners, each with a standalone repro
script beside this file and a paragraph in README.md here. Listed on the conformance page."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Defect:
    pruner: str       # the pruner name in the results
    title: str        # what breaks, in one sentence
    check: str        # the check (or outcome) that caught it
    smallest: str     # the smallest zoo model that shows it
    script: str       # standalone repro, relative to the repository root


_D = "reports/defects/"
DEFECTS: tuple[Defect, ...] = (
    Defect("torch-pruning", "BasePruner never returns on a transformers 5.x decoder traced with its KV cache on "
           "(prune_llm.py's default); the adapter traces with use_cache=False to get past it",
           "pruner-call timeout", "llama", _D + "tp_decoder_cache_hang.py"),
    Defect("torch-pruning", "BasePruner never returns on Phi (partial rotary), even with use_cache=False",
           "pruner-call timeout (every phi test)", "phi", _D + "tp_phi_hang.py"),
    Defect("torch-pruning", "frozen weights come back trainable (pruned tensors wrapped in fresh Parameters)",
           "check_dtype_device", "vit (any model)", _D + "tp_frozen_weights.py"),
    Defect("torch-pruning", "tp.state_dict / tp.load_state_dict crash on transformers 5.x read-only properties "
           "(can_record_outputs)", "check_save_load", "vit, deit, bert", _D + "tp_save_load_readonly.py"),
    Defect("torch-pruning", "Phi-3 with GQA: the fused qkv_proj is cut as num_attention_heads equal blocks, mixing "
           "q, k and v rows (eager); with sdpa tracing it crashes with IndexError",
           "check_kept_heads_exact, check_gqa_pairing", "phi3-gqa", _D + "tp_phi3_gqa_sdpa_crash.py"),
    Defect("torch-pruning", "timm head_dims: the example's forward scales by the old 1/sqrt(head_dim) on the eager path "
           "and by the new one on the fused path", "check_kept_heads_exact (sdpa)", "timm-vit",
           _D + "tp_timm_head_dims_scale.py"),
    Defect("torch-pruning", "an MQA layer asked to keep one query head is silently left unpruned",
           "check_request_honoured (property)", "llama-mqa", _D + "tp_mqa_one_head.py"),
    Defect("torch-pruning", "the examples' attribute updates leave config.num_attention_heads / config.head_dim and "
           "timm's attn_dim stale", "check_attribute_sync", "vit, bert, timm-vit",
           "python -m suites.repro --pruner torch-pruning vit heads-ratio check_attribute_sync"),
    Defect("torch-pruning", "the Swin example's patch-merging pruner reads SwinPatchMerging.dim, gone in transformers "
           "5.x: the pruner cannot be built", "every swin check (the pruner raised)", "swin",
           _D + "tp_swin_example_patch_merging.py"),
    Defect("hf-prune-heads", "SwinModel._prune_heads indexes self.encoder.layer, which Swin does not have "
           "(AttributeError); the per-head bias table would not be sliced either", "every swin heads check",
           "swin", _D + "hf_swin_prune_heads.py"),
    Defect("hf-prune-heads", "prune_heads turns a float64/float16 model's pruned projections into float32 "
           "(prune_linear_layer builds the new Linear in the default dtype)", "check_dtype_device",
           "bert, vit, deit", _D + "hf_prune_heads_dtype.py"),
    Defect("hf-prune-heads", "config.num_attention_heads keeps the original count (only config.pruned_heads records "
           "the removal), so uniform pruning leaves the config contradicting every layer",
           "check_attribute_sync (head-subset property)", "vit, deit, bert",
           "python -m pytest 'suites/properties/test_properties.py::test_any_legal_head_subset_is_exact[vit]' "
           "--pruner hf-prune-heads"),
    Defect("hf-prune-heads", "prune_heads leaves the replaced projections in train mode inside an eval model "
           "(prune_linear_layer builds fresh nn.Linear modules)", "check_untouched", "bert, vit, deit",
           _D + "hf_prune_heads_train_mode.py"),
)
