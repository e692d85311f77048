"""The protocol a pruner under test implements, so the conformance suite can drive it.

A pruner is any object with::

    name: str
    version: str
    capabilities: Capabilities
    expected_failures: Mapping[str, str]   # optional: check name or test id pattern -> reason
    def prune(self, model, request: PruneRequest) -> None      # in place; may raise Unsupported
    def save(self, model, directory) -> None                    # only if capabilities.save_load
    def load(self, directory, fresh_model) -> nn.Module         # only if capabilities.save_load

Register it under the entry-point group ``headprune.pruners`` or pass ``module:attribute``
to ``pytest suites/ --pruner``. The attribute may be the pruner or a zero-argument factory.

The suite fills ``PruneRequest.example_inputs`` (one small batch, for pruners that trace the
model) and ``PruneRequest.calibration`` (a larger batch, for data-driven importance) with
keyword inputs of the model (``model(**example_inputs)``). A pruner that cannot carry out one
particular request raises :class:`Unsupported`; the suite reports that as its own outcome
("unsupported"), apart from failures. Declare whole families or modes you never support in
``capabilities`` instead.
"""
from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

from torch import nn

ALL_FAMILIES = None  # Capabilities.families default: every zoo family, including ones added later


class Unsupported(Exception):
    """Raised by a pruner to answer one request "unsupported" (the message says why).

    Not a ValueError: it does not say the request is wrong, only that this pruner cannot do it.
    """


@dataclass(frozen=True)
class PruneRequest:
    """What to prune. ``heads``/``dims`` map a layer (attention block index) to the ids to remove,
    numbered as the model is now; ``ratio`` lets the pruner choose.

    Ids: any iterable of ints (list, tuple, numpy/torch ints), in any order; an id listed twice in
    one layer, like a layer given twice, is a bad request. The pruner gets its own copy of the
    request and must not change it.

    Ratio semantics (checked by ``check_ratio_honoured``): a ratio r in [0, 1) applies per layer to
    the units of the mode, and removes ``count(n) = min(round_half_up(n * r), n - 1)`` of a layer's
    n units, so every layer keeps one unit and r = 0 removes nothing. Units:

    - ``heads``, MHA (one kv head per query head) and MQA (one kv head): the query heads.
    - ``heads``, GQA (1 < kv heads < query heads), ``gqa="equal"``: the query heads of each kv
      group; every group loses count(group size) of them, so no kv head goes.
    - ``heads``, GQA, ``gqa="groups"``: the kv groups; count(kv heads) whole groups go, each with
      all its query heads.
    - ``head_dims``: the dims of a head (every head of a layer loses the same dims). RoPE models:
      the rotary pairs (i, i + r/2) instead, count(pairs), one set shared by every layer; the
      pass-through dims of partial rotary are counted apart, ``round_half_up(free * r)`` of them
      (which may be all of them).

    Which units go is the pruner's choice. The model is pruned in place: ``prune`` modifies the
    object it is given (returning a pruned copy is a bug), and changes nothing else (other
    weights, buffers, hyperparameters, train/eval flags, ``requires_grad``, no ``.grad`` or hooks
    left behind, sliced tensors owning compact storage).
    """

    mode: str = "heads"                                   # "heads" | "head_dims"
    heads: Mapping[int, tuple[int, ...]] | None = None
    dims: Mapping[int, tuple[int, ...]] | None = None
    ratio: float | None = None
    gqa: str = "equal"                                    # ratio mode in GQA models: "equal" | "groups"
    allow_inexact: bool = False
    # Filled by the suite for every call (not part of what is asked, so not compared or shown):
    example_inputs: Mapping[str, Any] | None = field(default=None, compare=False, repr=False)
    calibration: Mapping[str, Any] | None = field(default=None, compare=False, repr=False)

    def describe(self) -> str:
        sel = (f"ratio={self.ratio}" if self.ratio is not None
               else f"heads={dict(self.heads)}" if self.heads is not None else f"dims={dict(self.dims)}")
        extra = f", gqa={self.gqa!r}" if self.ratio is not None and self.gqa != "equal" else ""
        inexact = ", allow_inexact=True" if self.allow_inexact else ""
        return f"PruneRequest(mode={self.mode!r}, {sel}{extra}{inexact})"


@dataclass(frozen=True)
class Capabilities:
    families: frozenset[str] | None = ALL_FAMILIES   # None: every family

    def supports_family(self, family: str) -> bool:
        return self.families is None or family in self.families
    modes: frozenset[str] = frozenset({"heads", "head_dims"})
    gqa_strategies: frozenset[str] = frozenset({"equal", "groups"})
    explicit: bool = True            # accepts heads=/dims=; False: ratio only
    ratio: bool = True
    save_load: bool = False
    validates_requests: bool = False  # bad requests raise ValueError and leave the model unchanged
    head_dims_rope: bool = True       # head_dims on RoPE models (pairs, rotary frequencies)


@runtime_checkable
class Pruner(Protocol):
    name: str
    version: str
    capabilities: Capabilities

    def prune(self, model: nn.Module, request: PruneRequest) -> None: ...


@dataclass
class ReferencePruner:
    """headprune itself, behind the contract."""

    name: str = "headprune"
    capabilities: Capabilities = field(default_factory=lambda: Capabilities(save_load=True, validates_requests=True))
    expected_failures: Mapping[str, str] = field(default_factory=dict)

    @property
    def version(self) -> str:
        from . import __version__
        return __version__

    def prune(self, model: nn.Module, request: PruneRequest) -> None:
        from .api import prune
        prune(model, heads=request.heads, dims=request.dims, mode=request.mode, ratio=request.ratio,
              gqa=request.gqa, allow_inexact=request.allow_inexact,
              multiple_of=1)  # the contract's exact ratio semantics, not the hardware-aware default

    def save(self, model: nn.Module, directory) -> None:
        from .persistence import save
        save(model, directory)

    def load(self, directory, fresh_model: nn.Module) -> nn.Module:
        from .persistence import load
        return load(directory, model=fresh_model)


reference = ReferencePruner()
