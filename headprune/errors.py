"""Errors raised for requests that cannot be carried out.

Every error derives from ``ValueError`` so callers can catch bad input generically,
and every one is raised while *planning*, before any tensor is touched: a refused
request leaves the model bit-identical.
"""
from __future__ import annotations


class PruningError(ValueError):
    """A pruning request that cannot be carried out. Names the layer and the rule."""

    rule = "pruning request"

    def __init__(self, message: str, *, layer: int | None = None, block: str | None = None):
        self.layer = layer
        self.block = block
        where = ""
        if layer is not None:
            where = f"layer {layer}" + (f" ({block})" if block else "") + ": "
        super().__init__(f"{where}{message} [rule: {self.rule}]")


class UnknownLayoutError(PruningError):
    rule = "known attention layout"


class RefusedLayoutError(PruningError):
    rule = "exact by design (this attention mixes heads or cannot run with fewer)"


class TiedHeadsError(PruningError):
    rule = "blocks sharing one per-head table keep the same heads"


class LayerIndexError(PruningError):
    rule = "layer index in range"


class HeadIndexError(PruningError):
    rule = "head index in range"


class EmptyLayerError(PruningError):
    rule = "keep at least one head (or one dim) per layer"


class GQAPairingError(PruningError):
    rule = "GQA: every kept kv head keeps the same number of query heads"


class RopePairError(PruningError):
    rule = "RoPE: remove whole rotation pairs ((i, i + rotary_dim/2), or (2i, 2i + 1) when interleaved), the same set in every layer"


class UnsupportedRopeError(PruningError):
    rule = "RoPE: head_dims needs frequencies fixed at load (rope_type default, linear, llama3 or yarn)"


class InexactPruningError(PruningError):
    rule = "exactness (pass allow_inexact=True to accept an approximation)"


class RequestError(PruningError):
    rule = "well-formed request"


class PruningWarning(UserWarning):
    """Something the caller should know about a prune that was carried out."""


class ParametersReplacedWarning(PruningWarning):
    """Parameters that held gradients were replaced: an optimizer built before pruning is stale."""


class NothingRemovedWarning(PruningWarning):
    """A ratio that rounds to zero units in every layer."""


class UnsupportedLayerError(PruningError):
    rule = "projections are plain float linears (no quantization state or adapters)"


class TiedWeightsError(PruningError):
    rule = "tied weights stay tied: layers sharing weights keep the same heads and dims"


class StockFormatWarning(PruningWarning):
    """transformers' config validation refuses the pruned values: save_pretrained will fail."""


class SaveFormatError(PruningError):
    rule = "a complete, unmodified headprune save"
