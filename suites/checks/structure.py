"""Checks on the pruned model's structure: shapes, GQA pairing, the request, the ratio, parameter count."""
from __future__ import annotations

import math

import torch

import headprune
from headprune.blocks import weight
from headprune.report import count_parameters

from .base import CheckFailure, Trial, check, fail_unless


@check()
def check_shapes(trial: Trial) -> None:
    """q/k/v/o (or fused) weights, biases and per-head extras agree with the counts the model reports,
    and every pruned head is cut from its own original head. Root causes (the pruner raised, pruned a
    copy, or weights that match nothing) are reported here once; the checks that depend on them skip."""
    if (why := trial.root_cause()) is not None:
        raise CheckFailure(why)
    if isinstance(trial.matched, CheckFailure):
        raise trial.matched
    try:
        blocks = headprune.attention_blocks(trial.pruned)  # validates projections and per-head tables
    except headprune.PruningError as exc:
        raise CheckFailure(f"inconsistent attention block: {exc}") from exc
    for block in blocks:
        h, d = block.num_heads, block.head_dim
        for path, norm in block.qk_norms():
            for name, p in norm.named_parameters():
                fail_unless(p.shape[-1] == d, f"layer {block.layer}: {path}.{name} has {p.shape[-1]} entries, "
                            f"head_dim is {d}")
        if (wn := block.width_norm()) is not None:
            for name, p in wn.named_parameters(recurse=False):
                fail_unless(p.shape[0] == h * d, f"layer {block.layer}: {block.family.width_norm}.{name} has "
                            f"{p.shape[0]} entries, expected {h * d}")
        for path, lin in block.o_aligned():
            fail_unless(lin.out_features == h * d, f"layer {block.layer}: {path} has {lin.out_features} rows, "
                        f"expected {h * d}")
    survivors = trial.survivors
    for block, s in zip(blocks, survivors):
        fail_unless((block.num_heads, block.num_kv_heads, block.head_dim) == (s.num_heads, s.num_kv_heads, s.head_dim),
                    f"layer {block.layer}: reports {block.num_heads} heads / {block.num_kv_heads} kv / d={block.head_dim}"
                    f" but its weights hold {s.num_heads} / {s.num_kv_heads} / d={s.head_dim}")


@check()
def check_gqa_pairing(trial: Trial) -> None:
    """Query heads divide evenly over kv heads and each kept query head keeps its own kv head."""
    for s in trial.survivors:
        h, kv = s.num_heads, s.num_kv_heads
        fail_unless(kv > 0 and h % kv == 0, f"layer {s.layer}: {h} query heads over {kv} kv heads")
        g_old, g_new = s.heads_before // s.kv_heads_before, h // kv
        for j, (q_src, o_src) in enumerate(zip(s.q, s.o)):
            fail_unless(q_src.head == o_src.head, f"layer {s.layer}: pruned head {j} takes q rows of original head "
                        f"{q_src.head} but o columns of head {o_src.head}")
            want = q_src.head // g_old
            got_k, got_v = s.k[j // g_new].head, s.v[j // g_new].head
            fail_unless(got_k == want and got_v == want,
                        f"layer {s.layer}: query head {q_src.head} (kv head {want} originally) now attends with "
                        f"k of kv head {got_k} and v of kv head {got_v}")


@check("explicit")
def check_request_honoured(trial: Trial) -> None:
    """Exactly the requested heads (or dims) are gone, the rest kept in their original order."""
    req = trial.request
    for s in trial.survivors:
        if req.mode == "heads":
            removed = set(req.heads.get(s.layer, ()))
            want = tuple(h for h in range(s.heads_before) if h not in removed)
            fail_unless(s.heads == want, f"layer {s.layer}: kept heads {s.heads}, requested to keep {want}")
            fail_unless(s.head_dim == s.head_dim_before, f"layer {s.layer}: head_dim changed in heads mode")
        else:
            removed = set(req.dims.get(s.layer, ()))
            want = tuple(i for i in range(s.head_dim_before) if i not in removed)
            for src in s.q + s.k + s.v + s.o:
                fail_unless(src.dims == want, f"layer {s.layer}: head {src.head} keeps dims {src.dims}, "
                            f"requested {want}")
            fail_unless(s.heads == tuple(range(s.heads_before)), f"layer {s.layer}: heads changed in head_dims mode")


def ratio_count(units: int, ratio: float) -> int:
    """The contract (headprune.contract.PruneRequest): round half up, never a layer's last unit."""
    return min(math.floor(units * ratio + 0.5), units - 1)


def _heads_ratio_problem(s, ratio: float, gqa: str) -> str | None:
    h, kv = s.heads_before, s.kv_heads_before
    g = h // kv
    removed = sorted(set(range(h)) - set(s.heads))
    if s.head_dim != s.head_dim_before:
        return f"head_dim changed {s.head_dim_before} -> {s.head_dim} in heads mode"
    if g == 1 or kv == 1:  # MHA or MQA: the units are the query heads
        want = ratio_count(h, ratio)
        if len(removed) != want:
            return f"removed {len(removed)} of {h} query heads {removed}; ratio {ratio} removes {want}"
        return None
    by_group = {grp: [q for q in removed if q // g == grp] for grp in range(kv)}
    if gqa == "groups":
        want = ratio_count(kv, ratio)
        partial = {grp: qs for grp, qs in by_group.items() if 0 < len(qs) < g}
        whole = [grp for grp, qs in by_group.items() if len(qs) == g]
        if partial:
            return f"gqa='groups' removes whole kv groups, but kv groups {sorted(partial)} lost only {partial}"
        if len(whole) != want:
            return f"removed {len(whole)} of {kv} kv groups {whole}; ratio {ratio} removes {want}"
        return None
    want = ratio_count(g, ratio)
    counts = {grp: len(qs) for grp, qs in by_group.items()}
    if any(n != want for n in counts.values()):
        return (f"gqa='equal' removes {want} of the {g} query heads of every kv group; removed per group: "
                f"{counts}")
    return None


def _dims_ratio_problem(s, rotary_dim: int | None, rope, ratio: float) -> str | None:
    d = s.head_dim_before
    kept = set(s.q[0].dims) if s.q else set()
    removed = sorted(set(range(d)) - kept)
    if s.heads != tuple(range(s.heads_before)):
        return f"heads changed in head_dims mode: kept {s.heads}"
    if rotary_dim is None:
        want = ratio_count(d, ratio)
        if len(removed) != want:
            return f"removed {len(removed)} of {d} head dims {removed}; ratio {ratio} removes {want}"
        return None
    half, free = rotary_dim // 2, d - rotary_dim
    pairs = sorted({rope.pair_of(i, rotary_dim) for i in removed if i < rotary_dim})
    want_pairs, want_free = ratio_count(half, ratio), math.floor(free * ratio + 0.5)
    got_free = [i for i in removed if i >= rotary_dim]
    if len(pairs) != want_pairs:
        return (f"removed {len(pairs)} of {half} RoPE pairs {pairs} (dims {removed}); ratio {ratio} removes "
                f"{want_pairs}")
    if len(got_free) != want_free:
        return f"removed {len(got_free)} of {free} pass-through dims {got_free}; ratio {ratio} removes {want_free}"
    return None


@check("ratio")
def check_ratio_honoured(trial: Trial) -> None:
    """A ratio request removes, per layer, round_half_up(units * ratio) capped at units - 1, where the
    units follow the mode and the GQA strategy (the contract, headprune.contract.PruneRequest)."""
    req = trial.request
    originals = headprune.attention_blocks(trial.original)
    problems = []
    for s, block in zip(trial.survivors, originals):
        if req.mode == "heads":
            problem = _heads_ratio_problem(s, req.ratio, req.gqa)
        else:
            problem = _dims_ratio_problem(s, block.rotary_dim, block.family.rope, req.ratio)
        if problem:
            problems.append(f"layer {s.layer}: {problem}")
    if problems and req.ratio > 0 and all(_unchanged(s) for s in trial.survivors):
        problems.append("nothing was removed at all: the model passed in must be pruned in place")
    fail_unless(not problems, "; ".join(problems[:4]))


def _unchanged(s) -> bool:
    return s.heads == tuple(range(s.heads_before)) and s.head_dim == s.head_dim_before


def _block_params(block, h: int, kv: int, d: int) -> int:
    """Attention parameters a block of this layout holds with (h, kv, d)."""
    h0, kv0, d0 = block.num_heads, block.num_kv_heads, block.head_dim
    total = 0
    widths = {"q": h * d, "k": kv * d, "v": kv * d}
    widths["qkv"] = sum(widths[r] for r in block.family.fused_roles)
    for role, lin in block.projections().items():
        out_width, in_width = weight(lin).shape
        bias = lin.bias.numel() if lin.bias is not None else 0
        if role == "o":
            total += out_width * h * d + bias
        else:
            total += widths[role] * (in_width + (lin.bias is not None))
    # per-head extras scale with their heads, per-head-dim norms with d; Cohere's per-head
    # q_norm [H, d] is both, so every tensor is counted once with both factors
    factors: dict[int, tuple[torch.Tensor, float]] = {}
    for spec, extra in block.per_head_params():
        n0, n = (kv0, kv) if spec.kv else (h0, h)
        for p in ([extra] if isinstance(extra, torch.Tensor) else extra.parameters()):
            factors[id(p)] = (p, n / n0)
    for _, norm in block.qk_norms():
        for p in norm.parameters():
            factors[id(p)] = (p, factors.get(id(p), (p, 1.0))[1] * d / d0)
    if (wn := block.width_norm()) is not None:
        for p in wn.parameters(recurse=False):
            factors[id(p)] = (p, h * d / (h0 * d0))
    for spec, _, part in block.aligned():  # laid out like q or k/v rows (buffers are not counted)
        ratio = h * d / (h0 * d0) if spec.role == "q" else kv * d / (kv0 * d0)
        for p in ([part.weight, part.bias] if isinstance(part, torch.nn.Linear) else [part]):
            if isinstance(p, torch.nn.Parameter):
                factors[id(p)] = (p, ratio)
    total += sum(round(p.numel() * f) for p, f in factors.values())
    for _, lin in block.o_aligned():
        total += h * d * (lin.in_features + (lin.bias is not None))
    return total


@check()
def check_param_count(trial: Trial) -> None:
    """The parameters removed equal the analytic count for the heads and dims that are gone."""
    original = trial.original
    expected = count_parameters(original)
    for block, s in zip(headprune.attention_blocks(original), trial.survivors):
        expected += _block_params(block, s.num_heads, s.num_kv_heads, s.head_dim)
        expected -= _block_params(block, block.num_heads, block.num_kv_heads, block.head_dim)
    got = count_parameters(trial.pruned)
    fail_unless(got == expected, f"the pruned model has {got:,} parameters; removing exactly the pruned heads/dims "
                f"gives {expected:,} ({got - expected:+,})")
