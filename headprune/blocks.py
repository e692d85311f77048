"""Discovery: the attention blocks of a model, as the model is now."""
from __future__ import annotations

import re
from dataclasses import dataclass

import torch
from torch import nn

from .errors import RefusedLayoutError, UnknownLayoutError, UnsupportedLayerError
from .families import Family, PerHead, candidates, family_of
from .families.spec import qkv_row_index


def resolve(root: nn.Module, path: str):
    """``root.a.b`` for path ``"a.b"``; ``None`` when any step is missing."""
    obj = root
    for part in path.split("."):
        obj = getattr(obj, part, None)
        if obj is None:
            return None
    return obj


def has_parameters(module) -> bool:
    """A module holding parameters (its children's count: StableLM keeps one LayerNorm per head)."""
    return isinstance(module, nn.Module) and any(True for _ in module.parameters())


def is_projection(module, transposed: bool = False) -> bool:
    """An ``nn.Linear``, or with ``transposed`` a transformers ``Conv1D`` (weight [in, out], ``nf`` outputs)."""
    if not transposed:
        return isinstance(module, nn.Linear)
    w = getattr(module, "weight", None)
    return (isinstance(module, nn.Module) and isinstance(w, torch.Tensor) and w.dim() == 2
            and getattr(module, "nf", None) == w.shape[1])


def weight(lin: nn.Module) -> torch.Tensor:
    """A projection's weight as [out, in]; for a Conv1D the transposed view, so writes reach it."""
    return lin.weight if isinstance(lin, nn.Linear) else lin.weight.T


@dataclass(frozen=True)
class Rows:
    """Where one role's rows live in a projection: row of head h, dim i = ``rows[h * d + i]``."""

    lin: nn.Module
    rows: tuple[int, ...]
    head_dim: int

    def of(self, head: int, dims=None) -> list[int]:
        d = self.head_dim
        return [self.rows[head * d + i] for i in (range(d) if dims is None else dims)]

    @property
    def heads(self) -> int:
        return len(self.rows) // self.head_dim


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

    def projections(self) -> dict[str, nn.Module]:
        """The linears present in this block, by role (q/k/v or qkv, and o)."""
        return {role: self.part(path) for role, path in self.family.projection_paths().items()}

    def qkv_rows(self) -> dict[str, Rows]:
        """Where the q, k and v rows live (rows of ``weight(lin)``), in (head, dim) order."""
        fam, d = self.family, self.head_dim
        out = {role: Rows(lin, tuple(range(weight(lin).shape[0])), d)
               for role, lin in self.projections().items() if role in ("q", "k", "v")}
        if fam.fused:
            lin = self.part(fam.qkv)
            index = qkv_row_index(fam.qkv_layout, self.num_heads, self.num_kv_heads, d)
            out.update({role: Rows(lin, tuple(rows), d) for role, rows in index.items()})
        return {role: out[role] for role in ("q", "k", "v")}

    def o_cols(self) -> Rows:
        """The output projection's input columns (columns of ``weight(o)``), in (head, dim) order."""
        return Rows(self.o, tuple(range(self.o_width)), self.head_dim)

    @property
    def o_width(self) -> int:
        return weight(self.o).shape[1]

    def qk_norms(self) -> list[tuple[str, nn.Module]]:
        """Per-head-dim norms that hold parameters (an ``nn.Identity`` placeholder does not count)."""
        return [(p, m) for p in self.family.qk_norms if has_parameters(m := self.part(p))]

    def width_norm(self) -> nn.Module | None:
        m = self.part(self.family.width_norm)
        return m if has_parameters(m) else None

    def per_head_params(self) -> list[tuple[PerHead, nn.Parameter | nn.ModuleList]]:
        """Per-head extras present in this block: parameters (sliced along ``axis``), linears with
        one output row per head (ConViT's ``pos_proj``) or ModuleLists."""
        return [(p, self.part(p.path)) for p in self.family.per_head if self.part(p.path) is not None]

    def aligned(self) -> list[tuple[object, nn.Module, nn.Module | torch.Tensor]]:
        """``(Aligned, owner, tensor or linear)`` for each row-aligned extra present in this block."""
        out = []
        for spec in self.family.aligned:
            part = self.part(spec.path)
            if isinstance(part, (nn.Linear, torch.Tensor)):
                parent = spec.path.rpartition(".")[0]
                out.append((spec, self.part(parent) if parent else self.module, part))
        return out

    def aligned_rows(self, role: str) -> list[tuple[torch.Tensor, torch.Tensor | None]]:
        """(weight or tensor, bias) pairs whose first dim is laid out like ``role``'s rows."""
        return [(part.weight, part.bias) if isinstance(part, nn.Linear) else (part, None)
                for spec, _, part in self.aligned() if spec.role == role]

    @property
    def tie_key(self) -> tuple | None:
        """Blocks with equal keys must keep the same heads (they share one per-head table)."""
        if self.family.tie is None:
            return None
        m = re.search(self.family.tie, self.name)
        return None if m is None else (self.family.name, *m.groups())

    def o_aligned(self) -> list[tuple[str, nn.Linear]]:
        # nn.Linear only: timm's gate; no Conv1D family has one
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
        found = next(((s, p) for s, p in self.per_head_params() if not s.kv), None)
        if found is not None:
            return self.o_width // _entries(found[1], found[0])
        # the module's own head count (ClassAttn keeps nothing else; every prune syncs it)
        return self.o_width // int(next(resolve(self.module, a.path) for a in fam.attrs if a.value == "heads"))

    @property
    def num_heads(self) -> int:
        return self.o_width // self.head_dim

    @property
    def num_kv_heads(self) -> int:
        d = self.head_dim
        if self.fused:
            kv_roles = len(self.family.fused_roles) - 1
            return (weight(self.part(self.family.qkv)).shape[0] - self.num_heads * d) // (kv_roles * d)
        return weight(self.part(self.family.k)).shape[0] // d

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
        kind = "transformers Conv1D" if self.family.transposed else "nn.Linear"
        for role, lin in self.projections().items():
            if not is_projection(lin, self.family.transposed):
                problems.append(f"{role} projection is missing or not {kind}")
        if problems:
            raise UnknownLayoutError("; ".join(problems), layer=self.layer, block=self.name)
        d, h = self.head_dim, self.o_width / max(self.head_dim, 1)
        if d <= 0 or h != int(h):
            raise UnknownLayoutError(
                f"o input width {self.o_width} is not a multiple of head_dim {d}",
                layer=self.layer, block=self.name)
        h, kv = int(h), self.num_kv_heads
        expected = {"q": h * d, "k": kv * d, "v": kv * d}
        expected["qkv"] = sum(expected[r] for r in self.family.fused_roles)
        for role, lin in self.projections().items():
            rows = weight(lin).shape[0]
            if role != "o" and rows != expected[role]:
                problems.append(f"{role} has {rows} rows, expected {expected[role]}")
        if kv <= 0 or h % kv:
            problems.append(f"{h} query heads are not a multiple of {kv} kv heads")
        elif self.fused and self.family.qkv_layout == "per_head" and kv != h:
            problems.append(f"qkv rows per head [q | k | v] need one kv head per query head, found {h} and {kv}")
        for spec, p in self.per_head_params():
            n, want = _entries(p, spec), (kv if spec.kv else h)
            if n != want:
                problems.append(f"{spec.path} has {n} heads, expected {want}")
        for spec, _, part in self.aligned():
            n = part.out_features if isinstance(part, nn.Linear) else part.shape[0]
            if n != expected[spec.role]:
                problems.append(f"{spec.path} has {n} rows, expected {expected[spec.role]} like {spec.role}")
        if problems:
            raise UnknownLayoutError("; ".join(problems), layer=self.layer, block=self.name)

    def __repr__(self) -> str:
        return (f"AttentionBlock(layer={self.layer}, name={self.name!r}, family={self.family.name!r}, "
                f"num_heads={self.num_heads}, num_kv_heads={self.num_kv_heads}, head_dim={self.head_dim})")


def _entries(obj, spec: PerHead) -> int:
    """How many heads a per-head extra holds."""
    if isinstance(obj, nn.ModuleList):
        return len(obj)
    return weight(obj).shape[0] if isinstance(obj, nn.Linear) else obj.shape[spec.axis]


def config_of(model: nn.Module, block: AttentionBlock):
    """The config the block's tower reads and a save writes: the config of its nearest enclosing
    module that is the model's config or one of its sub-configs (LLaVA's language model reads
    ``text_config``, CLIP's vision tower ``vision_config``). Private copies (T5's stacks deep-copy
    the config) are skipped: the model's own config is what gets saved. None for timm models."""
    from .ownership import _configs_inside

    root = getattr(model, "config", None)
    if root is None or not hasattr(root, "to_dict"):
        return None
    tree = _configs_inside(root, {})
    parts = block.name.split(".") if block.name else []
    for depth in range(len(parts) - 1, 0, -1):
        config = getattr(model.get_submodule(".".join(parts[:depth])), "config", None)
        if id(config) in tree:
            return config
    return root


@dataclass(frozen=True)
class RefusedModule:
    """Known attention that headprune does not prune, with the reason (its family's ``refuse``)."""

    name: str
    family: Family

    @property
    def reason(self) -> str:
        return self.family.refuse


def discover(model: nn.Module) -> tuple[list[AttentionBlock], list[RefusedModule]]:
    """The prunable attention blocks of ``model`` in module order, and the known attention
    modules it refuses to prune. A module shared by several layers (ALBERT) is one block."""
    from .weights_check import check_projections, unsupported_projection

    blocks: list[AttentionBlock] = []
    refused: list[RefusedModule] = []
    for name, module in model.named_modules():
        try:
            fam = family_of(module, name)
        except LookupError as exc:
            # A quantized or adapter-wrapped projection also fails to fit: name that, not the release.
            for candidate in candidates(module):
                if (found := unsupported_projection(module, candidate)) is not None:
                    raise UnsupportedLayerError(f"{found[0]} {found[1]}", layer=len(blocks), block=name) from None
            raise UnknownLayoutError(f"{name}: {exc}; describe this release's layout in headprune/families/") from None
        if fam is None:
            continue
        if fam.refuse is not None:
            refused.append(RefusedModule(name, fam))
            continue
        stage = None
        if fam.stage_pattern and (m := re.search(fam.stage_pattern, "." + name + ".")):
            stage = int(m.group(1))
        block = AttentionBlock(layer=len(blocks), name=name, module=module, family=fam, stage=stage)
        check_projections(block)
        block.check_layout()
        blocks.append(block)
    return blocks, refused


def attention_blocks(model: nn.Module) -> list[AttentionBlock]:
    """The prunable attention blocks of ``model`` in module order.

    Raises :class:`UnknownLayoutError` when the model has none headprune understands,
    :class:`RefusedLayoutError` when it has only attention headprune refuses by design,
    and UnknownLayoutError when a known block's weights do not fit its description.
    """
    blocks, refused = discover(model)
    if not blocks and refused:
        first = refused[0]
        raise RefusedLayoutError(f"{first.name or type(model).__name__} ({first.family.name}): {first.reason}",
                                 block=first.name or None)
    if not blocks:
        raise UnknownLayoutError(
            f"no attention layout headprune knows was found in {type(model).__name__}; "
            "describe it in headprune/families/")
    return blocks
