"""transformers 4.x ``PreTrainedModel.prune_heads`` behind the conformance contract.

``model.prune_heads({layer: [heads]})`` is the whole recipe (attention-map §9): it slices q/k/v
and the output dense, updates each attention's ``num_attention_heads``/``all_head_size`` and
records ``config.pruned_heads``, which ``from_pretrained`` re-applies on load. The adapter adds
nothing to it.

Declared: the zoo families whose 4.57.6 models implement ``_prune_heads`` (BERT, ViT, DeiT and
Swin; Llama, Qwen2/3, Phi and Phi-3 have none); whole heads only (no head_dims), named
explicitly (no ratio: ``prune_heads`` takes ids); no request validation; save/load through
``save_pretrained``/``from_pretrained``.

transformers 5.0 removed ``prune_heads``: on 5.x importing this module raises ImportError,
so ``--pruner hf-prune-heads`` stops with a usage error that says so.
"""
from __future__ import annotations

from importlib.metadata import version as _version

import transformers
from torch import nn

from ..contract import Capabilities, PruneRequest

_MAJOR = int(transformers.__version__.split(".")[0])
if _MAJOR >= 5 or not hasattr(transformers.PreTrainedModel, "prune_heads"):
    raise ImportError(f"hf-prune-heads needs transformers 4.x: PreTrainedModel.prune_heads was removed in 5.0 "
                      f"(installed: transformers {transformers.__version__}); run it in the tf457 environment")


class HFPruneHeadsAdapter:
    name = "hf-prune-heads"
    capabilities = Capabilities(
        families=frozenset({"bert", "vit", "deit", "swin"}),
        modes=frozenset({"heads"}),
        explicit=True,
        ratio=False,
        save_load=True,
        validates_requests=False,
    )
    expected_failures: dict[str, str] = {}  # none: the report shows every defect

    @property
    def version(self) -> str:
        return f"transformers {_version('transformers')}"

    def prune(self, model: nn.Module, request: PruneRequest) -> None:
        heads = {int(layer): [int(h) for h in ids] for layer, ids in (request.heads or {}).items()}
        heads = {layer: ids for layer, ids in heads.items() if ids}
        if heads:
            model.prune_heads(heads)

    def save(self, model: nn.Module, directory) -> None:
        model.save_pretrained(directory)

    def load(self, directory, fresh_model: nn.Module) -> nn.Module:
        # from_pretrained re-applies config.pruned_heads; keep the fresh model's attention
        # implementation (the default would switch eager to sdpa, a different kernel)
        return type(fresh_model).from_pretrained(
            directory, attn_implementation=getattr(fresh_model.config, "_attn_implementation", None))


PRUNER = HFPruneHeadsAdapter()
