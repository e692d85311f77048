"""What a prune call did, per layer."""
from __future__ import annotations

from dataclasses import dataclass

from torch import nn


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


@dataclass(frozen=True)
class LayerReport:
    layer: int
    name: str
    family: str
    heads_before: int
    heads_after: int
    kv_heads_before: int
    kv_heads_after: int
    head_dim_before: int
    head_dim_after: int
    kept_heads: tuple[int, ...]     # query heads kept, numbered as before this call
    kept_kv_heads: tuple[int, ...]
    kept_dims: tuple[int, ...]


@dataclass(frozen=True)
class PruneReport:
    mode: str
    layers: tuple[LayerReport, ...]
    params_before: int
    params_after: int
    # Parameters (names) replaced by smaller tensors: an optimizer built before pruning still
    # holds the old ones, so rebuild it (and any scheduler/EMA state) from model.parameters().
    replaced_parameters: tuple[str, ...] = ()
    # Why transformers' save_pretrained/from_pretrained cannot rebuild the model exactly (None: it
    # can). Then the saved config.json makes from_pretrained fail loudly, naming headprune.load.
    stock_reload_problem: str | None = None
    multiple_of: int = 1              # kept widths were rounded to multiples of this (ratio requests)
    notes: tuple[str, ...] = ()       # each rounding away from the exact ratio, per layer
    not_pruned: tuple[tuple[str, str], ...] = ()  # (module, why): unselected towers, refused attention

    @property
    def changed(self) -> bool:
        """Whether any layer lost a head or a dim."""
        return any((lr.heads_before, lr.kv_heads_before, lr.head_dim_before)
                   != (lr.heads_after, lr.kv_heads_after, lr.head_dim_after) for lr in self.layers)

    @property
    def kept_heads(self) -> dict[int, tuple[int, ...]]:
        return {lr.layer: lr.kept_heads for lr in self.layers}

    @property
    def removed_heads(self) -> dict[int, tuple[int, ...]]:
        return {lr.layer: tuple(h for h in range(lr.heads_before) if h not in lr.kept_heads)
                for lr in self.layers if lr.heads_after != lr.heads_before}

    @property
    def kept_dims(self) -> dict[int, tuple[int, ...]]:
        return {lr.layer: lr.kept_dims for lr in self.layers}

    def __str__(self) -> str:
        lines = [f"headprune report ({self.mode}): parameters {self.params_before:,} -> {self.params_after:,}",
                 f"{'layer':>5}  {'heads':>7}  {'kv':>7}  {'head_dim':>8}  block"]
        for lr in self.layers:
            lines.append(f"{lr.layer:>5}  {lr.heads_before:>3}->{lr.heads_after:<3}  "
                         f"{lr.kv_heads_before:>3}->{lr.kv_heads_after:<3}  "
                         f"{lr.head_dim_before:>3}->{lr.head_dim_after:<4}  {lr.name}")
        if not self.changed:
            lines.append("nothing was removed")
        if self.multiple_of > 1:
            lines.append(f"kept widths rounded to multiples of {self.multiple_of} (multiple_of=1: exact ratio)")
        lines += [f"  {note}" for note in self.notes]
        if self.stock_reload_problem is not None:
            lines.append(f"stock from_pretrained cannot rebuild it ({self.stock_reload_problem}): "
                         "use headprune.save / headprune.load")
        if self.replaced_parameters:
            lines.append(f"{len(self.replaced_parameters)} parameters were replaced: rebuild any optimizer created "
                         "before pruning (report.replaced_parameters)")
        for name, why in self.not_pruned:
            lines.append(f"not pruned: {name or '(the model)'}: {why}")
        return "\n".join(lines)
