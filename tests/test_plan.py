"""Plans and selection: ratio picks the lowest-L2 heads (or dims), GQA strategies, RoPE pairs,
the PruneReport, and successive prunes composing in the current numbering."""
from __future__ import annotations

import copy
import json

import pytest
import torch

import headprune
import hp_support as S
from headprune.plan import Plan


def _zero_heads(c, model, layer, heads, *, with_kv):
    """Zero query heads' q rows and o columns (and their k/v rows when ``with_kv``)."""
    d = c.head_dim
    p = S.parts(c, model)[layer]
    with torch.no_grad():
        for h in heads:
            roles = (p.q, p.k, p.v) if with_kv else (p.q,)
            for lin, start, _ in roles:
                lin.weight[start + h * d:start + (h + 1) * d] = 0
                if lin.bias is not None:
                    lin.bias[start + h * d:start + (h + 1) * d] = 0
            p.o.weight[:, h * d:(h + 1) * d] = 0


def _zero_kv_head(c, model, layer, kv):
    d = c.head_dim
    p = S.parts(c, model)[layer]
    with torch.no_grad():
        for lin, start, _ in (p.k, p.v):
            lin.weight[start + kv * d:start + (kv + 1) * d] = 0
            if lin.bias is not None:
                lin.bias[start + kv * d:start + (kv + 1) * d] = 0


def _zero_dims(c, model, dims, layers=None):
    """Zero dims in every head's q/k/v rows and o columns."""
    d = c.head_dim
    with torch.no_grad():
        for i, p in enumerate(S.parts(c, model)):
            if layers is not None and i not in layers:
                continue
            for lin, start, stop in (p.q, p.k, p.v):
                rows = [start + h * d + j for h in range((stop - start) // d) for j in dims]
                lin.weight[rows] = 0
                if lin.bias is not None:
                    lin.bias[rows] = 0
            cols = [h * d + j for h in range(p.o.in_features // d) for j in dims]
            p.o.weight[:, cols] = 0


def _l2_scores(c, model, layer):
    """Independent L2 score per query head: its q rows (+bias) and o columns, plus its own
    k/v rows when every head has its own kv head."""
    d, h, kv = c.head_dim, c.num_heads[layer], c.num_kv_heads[layer]
    p = S.parts(c, model)[layer]

    def mass(role, idx):
        lin, start, _ = role
        rows = slice(start + idx * d, start + (idx + 1) * d)
        m = lin.weight[rows].pow(2).sum()
        return m + (lin.bias[rows].pow(2).sum() if lin.bias is not None else 0)

    scores = []
    with torch.no_grad():
        for q in range(h):
            s = mass(p.q, q) + p.o.weight[:, q * d:(q + 1) * d].pow(2).sum()
            if kv == h:
                s = s + mass(p.k, q) + mass(p.v, q)
            scores.append(float(s.sqrt()))
    return scores


def _one_per_group_ratio(c):
    # removes exactly one query head per layer (MHA, MQA) or per kv group (GQA "equal")
    return 0.125 if (c.num_heads[0] == 8 and c.num_kv_heads[0] in (1, 8)) else 0.25


def _exact(name, model, original, rh=None, rd=None):
    c = S.case(name)
    x = c.make_inputs()
    for got, want in zip(S.forward(name, model, x), S.forward(name, S.oracle(name, original, rh, rd), x)):
        assert S.max_err(got, want) <= S.TOL


# -- ratio selection -----------------------------------------------------------------------

@pytest.mark.parametrize("name", S.CASES, ids=S.CASES)
def test_ratio_picks_lowest_l2_heads(name):
    c = S.case(name)
    ratio = _one_per_group_ratio(c)
    model = S.build(name)
    plan, _ = headprune.make_plan(model, ratio=ratio)
    for i, lp in enumerate(plan.layers):
        h, kv = c.num_heads[i], c.num_kv_heads[i]
        g = h // kv
        scores = _l2_scores(c, model, i)
        removed = [q for q in range(h) if q not in lp.keep_heads]
        groups = [range(h)] if kv in (1, h) else [range(j * g, (j + 1) * g) for j in range(kv)]
        assert len(removed) == len(groups), (i, removed)
        for grp in groups:
            lowest = min(grp, key=lambda q: scores[q])
            assert lowest in removed, (i, lowest, removed)

    # Zero a head the default choice keeps (in layer 0; in the last group for GQA): it goes.
    default0 = [q for q in range(c.num_heads[0]) if q not in plan.layers[0].keep_heads]
    target = max(q for q in range(c.num_heads[0]) if q not in default0)
    original = S.build(name)
    _zero_heads(c, original, 0, [target], with_kv=c.num_kv_heads[0] == c.num_heads[0])
    model = copy.deepcopy(original)
    report = headprune.prune(model, ratio=ratio)
    assert target in report.removed_heads[0]
    assert len(report.removed_heads[0]) == len(default0)
    _exact(name, model, original, rh=report.removed_heads)


@pytest.mark.parametrize("name", ["llama-gqa", "qwen2", "phi3-gqa", "qwen3"])
def test_gqa_equal_removes_the_same_count_per_group(name):
    original, model = S.build(name), S.build(name)
    report = headprune.prune(model, ratio=0.5, gqa="equal")
    for lr in report.layers:
        assert lr.kv_heads_after == 2 and lr.heads_after == 4
        assert sorted(q // 4 for q in lr.kept_heads) == [0, 0, 1, 1]
    assert S.actual_layouts(name, model) == [(4, 2, 8), (4, 2, 8)]
    _exact(name, model, original, rh=report.removed_heads)


@pytest.mark.parametrize("name", ["llama-gqa", "qwen2", "phi3-gqa", "qwen3"])
def test_gqa_groups_removes_whole_groups(name):
    c = S.case(name)
    original = S.build(name)
    # make group 1 of layer 0 and group 0 of layer 1 the weakest
    _zero_heads(c, original, 0, range(4, 8), with_kv=False)
    _zero_kv_head(c, original, 0, 1)
    _zero_heads(c, original, 1, range(0, 4), with_kv=False)
    _zero_kv_head(c, original, 1, 0)
    model = copy.deepcopy(original)
    report = headprune.prune(model, ratio=0.5, gqa="groups")
    assert report.removed_heads == {0: (4, 5, 6, 7), 1: (0, 1, 2, 3)}
    assert [lr.kept_kv_heads for lr in report.layers] == [(0,), (1,)]
    assert S.actual_layouts(name, model) == [(4, 1, 8), (4, 1, 8)]
    _exact(name, model, original, rh=report.removed_heads)


def test_mqa_equal_keeps_the_single_kv_head():
    name = "llama-mqa"
    original, model = S.build(name), S.build(name)
    report = headprune.prune(model, ratio=0.25)
    assert [(lr.heads_after, lr.kv_heads_after) for lr in report.layers] == [(6, 1), (6, 1)]
    _exact(name, model, original, rh=report.removed_heads)


@pytest.mark.parametrize("gqa", ["equal", "groups"])
def test_mqa_ratio_counts_query_heads_whatever_the_gqa_strategy(gqa):
    # The contract: MHA and MQA layers count query heads; only GQA layers have kv groups to remove.
    report = headprune.prune(S.build("llama-mqa"), ratio=0.25, gqa=gqa)
    assert [(lr.heads_after, lr.kv_heads_after) for lr in report.layers] == [(6, 1), (6, 1)]


@pytest.mark.parametrize("name", ["llama", "llama-gqa", "qwen2", "phi3"])
def test_rope_dims_ratio_removes_the_weakest_whole_pair_everywhere(name):
    c = S.case(name)
    original = S.build(name)
    _zero_dims(c, original, [2, 6])  # pair (2, 6) in every layer
    model = copy.deepcopy(original)
    report = headprune.prune(model, mode="head_dims", ratio=0.25, multiple_of=1)
    assert report.kept_dims == {0: (0, 1, 3, 4, 5, 7), 1: (0, 1, 3, 4, 5, 7)}
    _exact(name, model, original, rd={0: [2, 6], 1: [2, 6]})


@pytest.mark.parametrize("ratio", [0.25, 0.5])
def test_partial_rotary_dims_ratio(ratio):
    name = "phi"
    original, model = S.build(name), S.build(name)
    report = headprune.prune(model, mode="head_dims", ratio=ratio, multiple_of=1)
    removed = {lr.layer: [j for j in range(16) if j not in lr.kept_dims] for lr in report.layers}
    rotated = [sorted(j for j in r if j < 8) for r in removed.values()]
    assert rotated[0] == rotated[1], "the same rotary pairs in every layer"
    assert all((j + 4) % 8 in rotated[0] for j in rotated[0]), "whole (i, i+4) pairs"
    assert len(rotated[0]) == 2 * round(4 * ratio)
    assert all(len([j for j in r if j >= 8]) == round(8 * ratio) for r in removed.values())
    _exact(name, model, original, rd=removed)


@pytest.mark.parametrize("name", ["vit", "timm-vit", "bert", "swin", "timm-swin"])
def test_dims_ratio_picks_lowest_l2_dim(name):
    c = S.case(name)
    original = S.build(name)
    _zero_dims(c, original, [3], layers={0})
    model = copy.deepcopy(original)
    report = headprune.prune(model, mode="head_dims", ratio=0.125, multiple_of=1)
    assert 3 not in report.kept_dims[0] and len(report.kept_dims[0]) == 7
    removed = {lr.layer: [j for j in range(8) if j not in lr.kept_dims] for lr in report.layers}
    _exact(name, model, original, rd=removed)


RATIO_CASES = [(n, m) for n in S.CASES for m in ("heads", "head_dims") if not (m == "head_dims" and n in S.INEXACT_DIMS)]


@pytest.mark.parametrize("name,mode", RATIO_CASES, ids=[f"{n}-{m}" for n, m in RATIO_CASES])
def test_ratio_request_is_exact(name, mode):
    original, model = S.build(name, "sdpa"), S.build(name, "sdpa")
    report = headprune.prune(model, mode=mode, ratio=0.25, multiple_of=1)
    if mode == "heads":
        assert report.removed_heads and all(len(r) >= 1 for r in report.removed_heads.values())
        _exact(name, model, original, rh=report.removed_heads)
    else:
        d = S.case(name).head_dim
        removed = {lr.layer: [j for j in range(d) if j not in lr.kept_dims] for lr in report.layers}
        assert all(removed.values())
        _exact(name, model, original, rd=removed)


def test_ratio_zero_changes_nothing():
    name = "llama-gqa"
    original, model = S.build(name), S.build(name)
    report = headprune.prune(model, ratio=0.0)
    assert report.removed_heads == {} and report.params_before == report.params_after
    x = S.case(name).make_inputs()
    assert torch.equal(S.outputs(name, model, x), S.outputs(name, original, x))


@pytest.mark.parametrize("kwargs", [dict(heads={}), dict(heads={0: [], 1: []}), dict(mode="head_dims", dims=[])],
                         ids=["no-layers", "empty-lists", "no-dims"])
def test_empty_request_touches_nothing(kwargs):
    model = S.build("phi3-gqa")
    snap = S.Snapshot(model)
    report = headprune.prune(model, **kwargs)
    assert report.params_before == report.params_after and report.removed_heads == {}
    snap.assert_unchanged()  # not even a config overlay or a recorded step


# -- the report ----------------------------------------------------------------------------

def _numel(model):
    return sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize("name", S.CASES, ids=S.CASES)
def test_report_heads(name):
    c = S.case(name)
    model = S.build(name)
    before = _numel(model)
    report = headprune.prune(model, heads=S.HEADS[name])
    exp = S.expected_layouts(name, S.HEADS[name])
    assert report.mode == "heads"
    assert report.params_before == before and report.params_after == _numel(model) < before
    assert report.kept_heads == {i: e.kept_heads for i, e in enumerate(exp)}
    assert report.removed_heads == {i: tuple(sorted(r)) for i, r in S.HEADS[name].items()}
    attns = S.attention_modules(c, model)
    assert [lr.layer for lr in report.layers] == list(range(c.num_layers))
    for lr, e, m in zip(report.layers, exp, attns):
        assert model.get_submodule(lr.name) is m
        assert (lr.heads_before, lr.kv_heads_before, lr.head_dim_before) == (
            c.num_heads[lr.layer], c.num_kv_heads[lr.layer], c.head_dim)
        assert (lr.heads_after, lr.kv_heads_after, lr.head_dim_after) == (e.heads, e.kv_heads, e.head_dim)
        assert lr.kept_kv_heads == e.kept_kv
        assert lr.kept_dims == tuple(range(c.head_dim))
    assert f"{before:,}" in str(report)


@pytest.mark.parametrize("name,removed_params", [
    ("llama", 3 * 4 * 8 * 32),              # 3 heads x (q, k, v rows + o columns), no biases
    ("timm-vit", 3 * (3 * 8 * 33 + 32 * 8)),  # q/k/v rows with bias + o columns
    ("llama-gqa", (4 + 2) * 2 * 8 * 64 + 1 * 2 * 8 * 64),  # 6 q heads (q rows + o cols), 1 kv head (k, v)
    ("swin", (1 * 4 * 8 * 16 + 1 * 3 * 8 + 49) + 3 * (4 * 8 * 32 + 3 * 8 + 49)),  # stage dims 16, 32; table 7x7
])
def test_report_parameter_delta(name, removed_params):
    model = S.build(name)
    report = headprune.prune(model, heads=S.HEADS[name])
    assert report.params_before - report.params_after == removed_params


@pytest.mark.parametrize("name", S.CASES, ids=S.CASES)
def test_report_dims(name):
    c = S.case(name)
    model = S.build(name)
    rd = S.DIMS[name]
    report = headprune.prune(model, mode="head_dims", dims=rd, allow_inexact=name in S.INEXACT_DIMS)
    assert report.mode == "head_dims" and report.removed_heads == {}
    assert report.kept_dims == {i: tuple(j for j in range(c.head_dim) if j not in rd.get(i, ()))
                                for i in range(c.num_layers)}
    assert report.params_after == _numel(model) < report.params_before


# -- numbering, composition, plans ---------------------------------------------------------

@pytest.mark.parametrize("name", ["llama", "swin"])
def test_negative_layer_is_counted_from_the_end(name):
    c = S.case(name)
    original, model = S.build(name), S.build(name)
    last = c.num_layers - 1
    report = headprune.prune(model, heads={-1: [0]})
    assert report.removed_heads == {last: (0,)}
    _exact(name, model, original, rh={last: [0]})


@pytest.mark.parametrize("name", S.CASES, ids=S.CASES)
def test_two_prunes_compose_in_current_numbering(name):
    c = S.case(name)
    original, model = S.build(name), S.build(name)
    headprune.prune(model, heads=S.HEADS[name])
    mid = S.expected_layouts(name, S.HEADS[name])
    report = headprune.prune(model, heads=S.HEADS2[name])
    composed = S.compose(S.HEADS[name], S.HEADS2[name], c.num_heads)
    # the second report numbers heads as the model was after the first prune
    for lr, m in zip(report.layers, mid):
        assert lr.heads_before == m.heads
        assert lr.kept_heads == tuple(j for j in range(m.heads) if j not in S.HEADS2[name].get(lr.layer, ()))
    exp = S.expected_layouts(name, composed)
    assert S.actual_layouts(name, model) == [(e.heads, e.kv_heads, e.head_dim) for e in exp]
    _exact(name, model, original, rh=composed)


@pytest.mark.parametrize("name,first,second,composed", [
    # RoPE: after [1, 5] the head is 6 wide with pairs (i, i+3); current 1, 4 are original 2, 6
    ("llama", {0: [1, 5], 1: [1, 5]}, {0: [1, 4], 1: [1, 4]}, {0: [1, 2, 5, 6], 1: [1, 2, 5, 6]}),
    # partial rotary: pass-through dims may then differ per layer (current 6 / 12 = original 8 / 15)
    ("phi", {0: [1, 5, 9], 1: [1, 5, 9]}, {0: [6], 1: [12]}, {0: [1, 5, 8, 9], 1: [1, 5, 9, 15]}),
    ("vit", {0: [1]}, {0: [0], 1: [0]}, {0: [0, 1], 1: [0]}),
    ("timm-swin", {0: [1], 3: [7]}, {0: [6], 3: [6]}, {0: [1, 7], 3: [6, 7]}),
], ids=["llama", "phi", "vit", "timm-swin"])
def test_two_dim_prunes_compose(name, first, second, composed):
    c = S.case(name)
    assert S.compose(first, second, [c.head_dim] * c.num_layers) == composed
    original, model = S.build(name), S.build(name)
    headprune.prune(model, mode="head_dims", dims=first)
    report = headprune.prune(model, mode="head_dims", dims=second)
    assert report.kept_dims == {i: tuple(j for j in range(c.head_dim - len(first.get(i, ())))
                                         if j not in second.get(i, ())) for i in range(c.num_layers)}
    exp = S.expected_layouts(name, None, composed)
    assert S.actual_layouts(name, model) == [(e.heads, e.kv_heads, e.head_dim) for e in exp]
    _exact(name, model, original, rd=composed)


@pytest.mark.parametrize("name", ["llama-gqa", "phi3-gqa", "timm-swin", "phi"])
def test_heads_then_dims_and_dims_then_heads(name):
    original = S.build(name)
    oracle_rd = S.DIMS[name]
    a, b = S.build(name), S.build(name)
    headprune.prune(a, heads=S.HEADS[name])
    headprune.prune(a, mode="head_dims", dims=S.DIMS[name])
    headprune.prune(b, mode="head_dims", dims=S.DIMS[name])
    headprune.prune(b, heads=S.HEADS[name])
    for m in (a, b):
        _exact(name, m, original, rh=S.HEADS[name], rd=oracle_rd)


@pytest.mark.parametrize("name,mode", [("llama-gqa", "heads"), ("phi", "head_dims"), ("timm-swin", "heads")])
def test_plan_json_round_trip(name, mode):
    model = S.build(name)
    req = dict(heads=S.HEADS[name]) if mode == "heads" else dict(mode="head_dims", dims=S.DIMS[name])
    plan, _ = headprune.make_plan(model, **req)
    assert Plan.from_json(json.loads(json.dumps(plan.to_json()))) == plan


def test_numpy_and_torch_integers_are_accepted_as_ids():
    import numpy as np

    model = S.build("llama")
    report = headprune.prune(model, {np.int64(0): [np.int64(1), torch.tensor(2)], -1: [0]})
    assert report.removed_heads == {0: (1, 2), 1: (0,)}
