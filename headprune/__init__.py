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
    PruningError,
    PruningWarning,
    RequestError,
    RopePairError,
    UnknownLayoutError,
    UnsupportedRopeError,
)
from .persistence import load, save
from .report import LayerReport, PruneReport

__all__ = [
    "AttentionBlock", "Capabilities", "EmptyLayerError", "GQAPairingError", "HeadIndexError",
    "InexactPruningError", "LayerIndexError", "LayerReport", "NothingRemovedWarning", "PruningWarning", "PruneReport", "PruneRequest", "Pruner",
    "PruningError", "RequestError", "RopePairError", "UnknownLayoutError", "UnsupportedRopeError", "attention_blocks", "load",
    "make_plan", "prune", "reference", "save",
]
