"""headprune: structured attention-head pruning that keeps every attribute in sync, exactly."""
from __future__ import annotations

__version__ = "0.1.0"

from .api import make_plan, prune
from .blocks import AttentionBlock, attention_blocks
from .contract import Capabilities, PruneRequest, Pruner, reference
from .errors import (
    EmptyLayerError,
    GQAPairingError,
    HeadIndexError,
    InexactPruningError,
    LayerIndexError,
    NothingRemovedWarning,
    ParametersReplacedWarning,
    PruningError,
    RefusedLayoutError,
    PruningWarning,
    RequestError,
    RopePairError,
    SaveFormatError,
    StockFormatWarning,
    TiedHeadsError,
    TiedWeightsError,
    UnknownLayoutError,
    UnsupportedLayerError,
    UnsupportedRopeError,
)
from .persistence import load, save
from .report import LayerReport, PruneReport

__all__ = [
    "AttentionBlock", "Capabilities", "EmptyLayerError", "GQAPairingError", "HeadIndexError",
    "InexactPruningError", "LayerIndexError", "LayerReport", "NothingRemovedWarning", "ParametersReplacedWarning", "PruningWarning", "PruneReport", "PruneRequest", "Pruner",
    "PruningError", "RefusedLayoutError", "RequestError", "RopePairError", "SaveFormatError", "StockFormatWarning", "TiedHeadsError", "TiedWeightsError", "UnknownLayoutError", "UnsupportedLayerError",
    "UnsupportedRopeError", "attention_blocks", "load",
    "make_plan", "prune", "reference", "save",
]
