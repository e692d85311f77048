"""Hypothesis strategies over head subsets and inputs for a zoo case."""
from __future__ import annotations

from hypothesis import strategies as st

from models import Case
from suites.scenarios import rope_pair


@st.composite
def layer_head_removal(draw, heads: int, kv_heads: int) -> tuple[int, ...]:
    """A GQA-legal removal: whole kv groups plus the same number of query heads from every
    remaining group. Covers none, all-but-one, whole groups, equal splits and MQA."""
    g = heads // kv_heads
    if g == 1 or kv_heads == 1:  # MHA (each head its own group) or MQA (one group): any proper subset
        return tuple(sorted(draw(st.sets(st.integers(0, heads - 1), max_size=heads - 1))))
    groups = draw(st.sets(st.integers(0, kv_heads - 1), max_size=kv_heads - 1))
    per_group = draw(st.integers(0, g - 1))
    removed = {q for grp in groups for q in range(grp * g, (grp + 1) * g)}
    for grp in sorted(set(range(kv_heads)) - groups):
        members = list(range(grp * g, (grp + 1) * g))
        removed |= set(draw(st.permutations(members))[:per_group])
    return tuple(sorted(removed))


def head_removals(case: Case):
    from suites.scenarios import tie

    return st.fixed_dictionaries({
        layer: layer_head_removal(h, kv) for layer, (h, kv) in enumerate(zip(case.num_heads, case.num_kv_heads))
    }).map(lambda removal: tie(case, removal))


@st.composite
def dim_removals(draw, case: Case):
    """Per-layer dims; RoPE: the same whole pairs in every layer (pass-through dims free)."""
    d = case.head_dim
    if "rope" not in case.tags:
        return {layer: tuple(sorted(draw(st.sets(st.integers(0, d - 1), max_size=d - 1))))
                for layer in range(case.num_layers)}
    r = case.rotary
    pairs = draw(st.sets(st.integers(0, r // 2 - 1), max_size=r // 2 - 1))
    rotated = {i for p in pairs for i in rope_pair(case, p)}
    free = st.sets(st.integers(r, d - 1)) if d > r else st.just(frozenset())
    return {layer: tuple(sorted(rotated | draw(free))) for layer in range(case.num_layers)}


@st.composite
def unequal_gqa_split(draw, case: Case):
    """A removal leaving kv groups with different numbers of query heads (always illegal)."""
    h, kv = case.num_heads[0], case.num_kv_heads[0]
    g = h // kv
    grp = draw(st.integers(0, kv - 1))
    n = draw(st.integers(1, g - 1))
    members = list(range(grp * g, (grp + 1) * g))
    return {0: tuple(sorted(draw(st.permutations(members))[:n]))}


def inputs(case: Case):
    """Keyword arguments for ``case.make_inputs``: batch, length, padding, seed."""
    if case.modality in ("vision", "speech"):
        return st.fixed_dictionaries({"batch": st.integers(1, 3), "seed": st.integers(0, 2**16)})
    return st.integers(2, 8).flatmap(lambda n: st.fixed_dictionaries({
        "batch": st.integers(1, 3), "seq_len": st.just(n), "pad": st.integers(0, n - 1),
        "seed": st.integers(0, 2**16)}))
