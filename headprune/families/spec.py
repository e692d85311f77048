"""The vocabulary of a family description.

A :class:`Family` says, for one attention layout, where its projections are, which
parameters carry one entry per head or per head dimension, which attributes and
config fields mirror the head counts, and how RoPE is applied. The surgery in
:mod:`headprune.surgery` reads nothing else, so supporting a new layout means writing
one of these, not new slicing code.

Quantities (the ``value`` of :class:`Attr` and :class:`ConfigField`) are computed from
the block as it is after surgery:

``heads``        query heads                ``kv_heads``   key/value heads
``head_dim``     width of one head          ``groups``     heads // kv_heads
``q_width``      heads * head_dim           ``scaling``    the softmax scale (see surgery)
``rotary_dim``   rotated dims per head      ``rotary_fraction``  rotary_dim / head_dim
"""
from __future__ import annotations

from dataclasses import dataclass

QUANTITIES = frozenset(
    {"heads", "kv_heads", "head_dim", "groups", "q_width", "scaling", "rotary_dim", "rotary_fraction"}
)


def _get(obj, dotted: str):
    """``obj.a.b`` (or ``obj["a"]["b"]`` through dicts) for ``"a.b"``; None when a step is missing."""
    for part in dotted.split("."):
        obj = obj.get(part) if isinstance(obj, dict) else getattr(obj, part, None)
        if obj is None:
            return None
    return obj


@dataclass(frozen=True)
class Attr:
    """A module attribute (dotted path from the attention module) that mirrors the layout."""

    path: str
    value: str

    def __post_init__(self):
        assert self.value in QUANTITIES, self.value


@dataclass(frozen=True)
class ConfigField:
    """A field of the model config, synced when every block it describes agrees.

    ``per_stage``: the field is a list with one entry per stage (Swin's ``num_heads``).
    A dotted ``name`` reaches into a dict field (``rope_parameters.partial_rotary_factor``);
    ``fallbacks`` are where other releases keep the same field (the first one present is used).
    """

    name: str
    value: str
    per_stage: bool = False
    fallbacks: tuple[str, ...] = ()

    def locate(self, config) -> str | None:
        """The dotted path of this field in ``config``, or None if the config has none of them."""
        return next((p for p in (self.name, *self.fallbacks) if _get(config, p) is not None), None)

    def read(self, config):
        path = self.locate(config)
        if path is None:
            raise AttributeError(f"the config has no {self.name!r}" +
                                 (f" (nor {', '.join(self.fallbacks)})" if self.fallbacks else ""))
        return _get(config, path)

    def write(self, config, value) -> None:
        """Set the field where the config keeps it (adding ``name`` if it has none of the paths)."""
        parent, _, leaf = (self.locate(config) or self.name).rpartition(".")
        target = _get(config, parent) if parent else config
        if isinstance(target, dict):
            target[leaf] = value
        else:
            setattr(target, leaf, value)

    def __post_init__(self):
        assert self.value in QUANTITIES, self.value


@dataclass(frozen=True)
class Rope:
    """RoPE inside each head: which dims rotate together, and how wide the rotated part is.

    ``interleaved=False``: Llama's ``rotate_half``, dim i pairs with i + rotary_dim/2.
    ``interleaved=True``: Cohere (and GPT-J) style, dims (2i, 2i + 1) rotate together.
    Either way pair p uses frequency p, so the kept frequencies are the kept pairs.
    ``rotary_dim_attr``: attribute holding the rotated width when only part of each head
    is rotated (Phi's ``rotary_ndims``); ``None`` means the whole head rotates.
    Frequencies live in model-level modules, in buffers named ``inv_freq`` or ``<kind>_inv_freq``
    (Gemma3 keeps one table per layer type): every one of them is sliced.
    """

    rotary_dim_attr: str | None = None
    interleaved: bool = False

    def pair_of(self, i: int, rotary_dim: int) -> int:
        """The frequency index of rotated dim ``i``."""
        return i // 2 if self.interleaved else i % (rotary_dim // 2)

    def pair_dims(self, p: int, rotary_dim: int) -> tuple[int, int]:
        """The two dims rotated by frequency ``p``."""
        return (2 * p, 2 * p + 1) if self.interleaved else (p, p + rotary_dim // 2)


@dataclass(frozen=True)
class Requires:
    """A condition for a description to apply: the module attribute at ``path`` (dotted, may pass
    through ``config``) equals ``value``. ``why`` is shown when a described class meets none of
    its descriptions' conditions, so a refused variant says what makes it different."""

    path: str
    value: object
    why: str = ""


# Row orders of a fused q/k/v projection (H query heads, KV kv heads, width d each):
#   "blocked"   [q H*d | k KV*d | v KV*d]             Phi-3, timm, GPT-2 (columns), Falcon multi-query
#   "per_head"  [h][q d | k d | v d] for every head    GPT-NeoX, Falcon (old, not multi-query); KV = H
#   "grouped"   [g][q (H/KV)*d | k d | v d] per kv group  Falcon new_decoder_architecture
#   "qk"        [q H*d | k KV*d], v in its own projection   timm ConViT's gated positional attention
QKV_LAYOUTS = ("blocked", "per_head", "grouped", "qk")


def qkv_row_index(layout: str, heads: int, kv_heads: int, d: int) -> dict[str, list[int]]:
    """Rows of a fused projection per role, in (head, dim) order: row of head h, dim i = rows[h*d + i]."""
    if layout in ("blocked", "qk"):
        q, kv = heads * d, kv_heads * d
        rows = {"q": list(range(q)), "k": list(range(q, q + kv)), "v": list(range(q + kv, q + 2 * kv))}
        if layout == "qk":
            del rows["v"]
        return rows
    if layout == "per_head":
        return {role: [h * 3 * d + r * d + i for h in range(heads) for i in range(d)]
                for r, role in enumerate(("q", "k", "v"))}
    if layout == "grouped":
        g = heads // kv_heads
        span = (g + 2) * d
        return {"q": [(h // g) * span + (h % g) * d + i for h in range(heads) for i in range(d)],
                "k": [grp * span + g * d + i for grp in range(kv_heads) for i in range(d)],
                "v": [grp * span + (g + 1) * d + i for grp in range(kv_heads) for i in range(d)]}
    raise ValueError(f"unknown fused q/k/v layout {layout!r}; known: {QKV_LAYOUTS}")


@dataclass(frozen=True)
class PerHead:
    """A parameter with one slice per head along ``axis`` (Swin's bias table: its last axis),
    a linear with one output row per head (ConViT's ``pos_proj``: rows and bias, ``axis`` unused)
    or a ModuleList with one module per head (StableLM's per-head q/k LayerNorms).

    ``kv``: one entry per key/value head instead of per query head (Cohere's ``k_norm``).
    """

    path: str
    axis: int = -1
    kv: bool = False


@dataclass(frozen=True)
class Aligned:
    """A tensor laid out like one projection's rows: one entry per (head, dim) of ``role``.

    A linear has its rows (and bias) sliced, a parameter or buffer its first dim. ``fold``:
    it is a query (DeBERTa's ``pos_query_proj``, timm's ``q_bias``), so it takes the softmax
    scale fold with q when head_dim shrinks.
    """

    path: str
    role: str
    fold: bool = False

    def __post_init__(self):
        assert self.role in ("q", "k", "v"), self.role


@dataclass(frozen=True)
class HeadIndexList:
    """A model-level list of ``[layer, head]`` pairs naming heads of the blocks whose name matches
    ``block`` (a regex whose one group is the layer): pairs naming removed heads are dropped, the
    others renumbered. Whisper's ``generation_config.alignment_heads``, the cross-attention heads
    whose weights give word timestamps: stale, they would read other heads, silently."""

    path: str
    block: str


@dataclass(frozen=True)
class Family:
    name: str
    classes: tuple[str, ...]          # qualified class names of the attention module
    o: str                            # output projection (its input columns are per head)
    q: str | None = None              # separate projections ...
    k: str | None = None
    v: str | None = None
    qkv: str | None = None            # ... or one fused projection (row order: qkv_layout)
    qkv_layout: str = "blocked"       # see QKV_LAYOUTS
    transposed: bool = False          # projections are transformers Conv1D: weight [in, out] (GPT-2)
    head_dim_attr: str | None = None  # where the module keeps its head width; None: derive from per_head
    per_head: tuple[str | PerHead, ...] = ()  # one entry per head (a str: a parameter's last axis)
    qk_norms: tuple[str, ...] = ()    # modules normalising over one head's dims (q first if present)
    width_norm: str | None = None     # a norm over all heads' channels (timm scale_norm): never exact
    o_aligned: tuple[str, ...] = ()   # linears whose output rows align with the o input (timm gate)
    attrs: tuple[Attr, ...] = ()
    config_fields: tuple[ConfigField, ...] = ()
    private_config: tuple[ConfigField, ...] = ()  # fields read from the module's own `config`
    rope: Rope | None = None
    requires: tuple[Requires, ...] = ()  # conditions on the module for this layout (Falcon's variants)
    stage_pattern: str | None = None  # regex with one group: the stage index in the module name
    aligned: tuple[Aligned, ...] = ()  # tensors laid out like q, k or v rows (EVA q_bias, DeBERTa pos_key_proj)
    # Where the description applies: a regex the module's name must match (Whisper's encoder and
    # decoder share a class but not a config field), and ``parts``: paths that must exist for it to fit.
    where: str | None = None
    parts: tuple[str, ...] = ()
    # False where the softmax scale does not follow head_dim (T5 has none): no fold when it shrinks.
    scale_follows_head_dim: bool = True
    # Blocks whose names give the same groups for this regex must keep the same heads: they share
    # one per-head table (T5's relative attention bias lives in block 0 and serves its whole stack).
    tie: str | None = None
    # Known attention that headprune will not prune, and why (mixing across heads, a module whose
    # forward cannot run with fewer heads). Discovery reports it; requests never touch it.
    refuse: str | None = None
    # Source rewrites of the module's forward, applied as a subclass when the block is first
    # pruned: timm reshapes with the input width C, which no longer equals heads * head_dim.
    forward_rewrites: tuple[tuple[str, str], ...] = ()
    rewritten_methods: tuple[str, ...] = ("forward",)  # the methods those rewrites apply to
    fixed_head_dim: str | None = None  # why head_dim cannot shrink (heads mode still works)
    head_index_lists: tuple[HeadIndexList, ...] = ()  # model-level [layer, head] lists to renumber
    notes: str = ""

    def __post_init__(self):
        assert self.qkv_layout in QKV_LAYOUTS, self.qkv_layout
        assert (self.qkv_layout == "qk") == (self.fused and self.v is not None), "a fused [q | k] needs its own v"
        object.__setattr__(self, "per_head", tuple(p if isinstance(p, PerHead) else PerHead(p) for p in self.per_head))

    @property
    def fused(self) -> bool:
        return self.qkv is not None

    @property
    def fused_roles(self) -> tuple[str, ...]:
        """The roles whose rows live in the fused projection (none when not fused)."""
        return () if not self.fused else ("q", "k") if self.qkv_layout == "qk" else ("q", "k", "v")

    def projection_paths(self) -> dict[str, str]:
        """Path of each projection by role: ``qkv`` for a fused one, then q/k/v not in it, then ``o``."""
        roles = {"qkv": self.qkv} if self.fused else {}
        roles.update({r: getattr(self, r) for r in ("q", "k", "v") if r not in self.fused_roles})
        return {**roles, "o": self.o}
