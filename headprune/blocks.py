"""Discovery: the attention blocks of a model, as the model is now."""
from __future__ import annotations

import re
from dataclasses import dataclass

from torch import nn

from .errors import UnknownLayoutError
from .families import Family, family_of


def resolve(root: nn.Module, path: str):
    """``root.a.b`` for path ``"a.b"``; ``None`` when any step is missing."""
    obj = root
    for part in path.split("."):
        obj = getattr(obj, part, None)
        if obj is None:
            return None
    return obj


def has_parameters(module) -> bool:
    return isinstance(module, nn.Module) and any(True for _ in module.parameters(recurse=False))


@dataclass
class AttentionBlock:
    """One attention module, with counts read from its weights (so they are always current).

    ``layer`` is the block's index in module order (Swin: flattened across stages).
    """

    layer: int
    name: str
    module: nn.Module
    family: Family
    stage: int | None = None

    # -- parts -------------------------------------------------------------------------
    def part(self, path: str | None):
        return None if path is None else resolve(self.module, path)

    @property
    def o(self) -> nn.Linear:
        return self.part(self.family.o)

    @property
    def fused(self) -> bool:
        return self.family.fused

    def projections(self) -> dict[str, nn.Linear]:
        """The linears present in this block, by role (q/k/v or qkv, and o)."""
        fam = self.family
        roles = {"qkv": fam.qkv} if fam.fused else {"q": fam.q, "k": fam.k, "v": fam.v}
        roles["o"] = fam.o
        return {role: self.part(path) for role, path in roles.items()}

    def qkv_rows(self) -> dict[str, tuple[nn.Linear, int, int]]:
        """Where the q, k and v rows live: ``role -> (linear, first row, end row)``."""
        fam = self.family
        if not fam.fused:
            return {role: (lin, 0, lin.out_features) for role, lin in self.projections().items() if role != "o"}
        lin, d = self.part(fam.qkv), self.head_dim
        q, kv = self.num_heads * d, self.num_kv_heads * d
        return {"q": (lin, 0, q), "k": (lin, q, q + kv), "v": (lin, q + kv, q + 2 * kv)}

    def qk_norms(self) -> list[tuple[str, nn.Module]]:
        """Per-head-dim norms that hold parameters (an ``nn.Identity`` placeholder does not count)."""
        return [(p, m) for p in self.family.qk_norms if has_parameters(m := self.part(p))]

    def width_norm(self) -> nn.Module | None:
        m = self.part(self.family.width_norm)
        return m if has_parameters(m) else None

    def per_head_params(self) -> list[tuple[str, nn.Parameter]]:
        return [(p, self.part(p)) for p in self.family.per_head if self.part(p) is not None]

    def o_aligned(self) -> list[tuple[str, nn.Linear]]:
        return [(p, m) for p in self.family.o_aligned if isinstance(m := self.part(p), nn.Linear)]

    @property
    def module_names(self) -> tuple[str, ...]:
        """Full names of the modules this block covers (its root first)."""
        names = [self.name]
        for path in (*self.projections_paths(), *self.family.qk_norms, *self.family.o_aligned):
            if self.part(path) is not None:
                names.append(f"{self.name}.{path}" if self.name else path)
        return tuple(names)

    def projections_paths(self) -> list[str]:
        fam = self.family
        return [p for p in (fam.q, fam.k, fam.v, fam.qkv, fam.o) if p is not None]

    # -- counts ------------------------------------------------------------------------
    @property
    def head_dim(self) -> int:
        fam = self.family
        if fam.head_dim_attr is not None:
            return int(resolve(self.module, fam.head_dim_attr))
        heads = self.per_head_params()[0][1].shape[-1]
        return self.o.in_features // heads

    @property
    def num_heads(self) -> int:
        return self.o.in_features // self.head_dim

    @property
    def num_kv_heads(self) -> int:
        d = self.head_dim
        if self.fused:
            return (self.part(self.family.qkv).out_features - self.num_heads * d) // (2 * d)
        return self.part(self.family.k).out_features // d

    @property
    def groups(self) -> int:
        return self.num_heads // self.num_kv_heads

    @property
    def rotary_dim(self) -> int | None:
        rope = self.family.rope
        if rope is None:
            return None
        if rope.rotary_dim_attr is None:
            return self.head_dim
        return int(resolve(self.module, rope.rotary_dim_attr))

    def kv_group(self, head: int) -> int:
        """The kv head that query head ``head`` attends with (HF ``repeat_kv`` layout)."""
        return head // self.groups

    def check_layout(self) -> None:
        """Weights agree with one (heads, kv_heads, head_dim); raise UnknownLayoutError if not."""
        problems = []
        for role, lin in self.projections().items():
            if not isinstance(lin, nn.Linear):
                problems.append(f"{role} projection is missing or not nn.Linear")
        if problems:
            raise UnknownLayoutError("; ".join(problems), layer=self.layer, block=self.name)
        d, h = self.head_dim, self.o.in_features / max(self.head_dim, 1)
        if d <= 0 or h != int(h):
            raise UnknownLayoutError(
                f"o input width {self.o.in_features} is not a multiple of head_dim {d}",
                layer=self.layer, block=self.name)
        h, kv = int(h), self.num_kv_heads
        expected = {"q": h * d, "k": kv * d, "v": kv * d, "qkv": (h + 2 * kv) * d}
        for role, lin in self.projections().items():
            if role != "o" and lin.out_features != expected[role]:
                problems.append(f"{role} has {lin.out_features} rows, expected {expected[role]}")
        if kv <= 0 or h % kv:
            problems.append(f"{h} query heads are not a multiple of {kv} kv heads")
        for path, p in self.per_head_params():
            if p.shape[-1] != h:
                problems.append(f"{path} has {p.shape[-1]} heads, expected {h}")
        if problems:
            raise UnknownLayoutError("; ".join(problems), layer=self.layer, block=self.name)

    def __repr__(self) -> str:
        return (f"AttentionBlock(layer={self.layer}, name={self.name!r}, family={self.family.name!r}, "
                f"num_heads={self.num_heads}, num_kv_heads={self.num_kv_heads}, head_dim={self.head_dim})")


def attention_blocks(model: nn.Module) -> list[AttentionBlock]:
    """The attention blocks of ``model`` in module order.

    Raises :class:`UnknownLayoutError` when the model has none headprune understands,
    or when a known block's weights do not fit its description.
    """
    blocks: list[AttentionBlock] = []
    for name, module in model.named_modules():
        try:
            fam = family_of(module)
        except LookupError as exc:
            raise UnknownLayoutError(f"{name}: {exc}; describe this release's layout in headprune/families/") from None
        if fam is None:
            continue
        stage = None
        if fam.stage_pattern and (m := re.search(fam.stage_pattern, "." + name + ".")):
            stage = int(m.group(1))
        block = AttentionBlock(layer=len(blocks), name=name, module=module, family=fam, stage=stage)
        block.check_layout()
        blocks.append(block)
    if not blocks:
        raise UnknownLayoutError(
            f"no attention layout headprune knows was found in {type(model).__name__}; "
            "describe it in headprune/families/")
    return blocks
