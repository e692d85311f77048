"""Refused requests: the right PruningError subclass (a ValueError) naming the layer and the
rule, raised before anything is touched, so the model stays bit-identical."""
from __future__ import annotations

import re

import pytest
import torch
from torch import nn

import headprune
import hp_support as S
from headprune import (
    EmptyLayerError,
    GQAPairingError,
    HeadIndexError,
    InexactPruningError,
    LayerIndexError,
    RequestError,
    RopePairError,
    UnknownLayoutError,
)


def refused(model, exc, *, layer=None, match=None, **kwargs):
    """Assert ``prune(model, **kwargs)`` raises exactly ``exc`` and leaves ``model`` untouched."""
    snap = S.Snapshot(model)
    with pytest.raises(exc) as info:
        headprune.prune(model, **kwargs)
    err = info.value
    assert type(err) is exc, f"expected {exc.__name__}, got {type(err).__name__}: {err}"
    assert isinstance(err, headprune.PruningError) and isinstance(err, ValueError)
    msg = str(err)
    assert f"[rule: {exc.rule}]" in msg, msg
    if layer is not None:
        assert err.layer == layer, msg
        assert msg.startswith(f"layer {layer}"), msg
    if match is not None:
        assert re.search(match, msg), msg
    snap.assert_unchanged()
    return err


def _last(name):
    return S.case(name).num_layers - 1


def _valid_layer0(name):
    return list(S.HEADS[name][0])


# -- head and layer indices ------------------------------------------------------------

@pytest.mark.parametrize("name", S.CASES, ids=S.CASES)
def test_removing_every_head_of_a_layer(name):
    c, last = S.case(name), _last(name)
    h = c.num_heads[last]
    # layer 0's part is legal; the last layer's is not: nothing may be applied
    refused(S.build(name), EmptyLayerError, layer=last, match=rf"all {h} heads",
            heads={0: _valid_layer0(name), last: list(range(h))})


@pytest.mark.parametrize("name", S.CASES, ids=S.CASES)
def test_head_index_out_of_range(name):
    c, last = S.case(name), _last(name)
    h = c.num_heads[last]
    refused(S.build(name), HeadIndexError, layer=last, match=rf"head {h} is out of range",
            heads={0: _valid_layer0(name), last: [h]})
    refused(S.build(name), HeadIndexError, layer=last, match=r"head -1 is out of range",
            heads={last: [-1]})


@pytest.mark.parametrize("name", ["llama", "swin", "timm-vit"], ids=str)
def test_layer_index_out_of_range(name):
    n = S.case(name).num_layers
    for key in (n, -(n + 1), 10**6):
        refused(S.build(name), LayerIndexError, layer=key, match=rf"{n} attention blocks",
                heads={0: [0], key: [0]})


def test_dim_index_out_of_range_and_empty_head():
    refused(S.build("vit"), HeadIndexError, layer=1, match=r"dim 8 is out of range",
            mode="head_dims", dims={0: [1], 1: [8]})
    refused(S.build("vit"), EmptyLayerError, layer=1, match=r"all 8 dims",
            mode="head_dims", dims={0: [1], 1: list(range(8))})
    refused(S.build("llama"), EmptyLayerError, layer=0, mode="head_dims", dims=list(range(8)))


def test_every_rotary_pair_of_partial_rotary_refused():
    # Phi rotates dims 0..7 of 16: dropping all four pairs keeps pass-through dims only
    refused(S.build("phi"), EmptyLayerError, match="every rotated dim pair",
            mode="head_dims", dims=list(range(8)))


# -- GQA pairing -----------------------------------------------------------------------

@pytest.mark.parametrize("name", S.GQA, ids=S.GQA)
def test_unequal_gqa_split_refused(name):
    refused(S.build(name), GQAPairingError, layer=0, match=r"kv head 0: 3/4, kv head 1: 4/4",
            heads={0: [0]})
    # layer 0 legal, layer 1 keeps 2 in group 0 and 3 in group 1
    refused(S.build(name), GQAPairingError, layer=1, match=r"kv head 0: 2/4, kv head 1: 3/4",
            heads={0: _valid_layer0(name), 1: [0, 1, 4]})


@pytest.mark.parametrize("request_", [{0: [0, 4]}, {0: [0, 1, 2, 3]}, {0: [0, 1, 2, 3, 4]}, {0: [1, 2, 5, 6]}],
                         ids=["equal-split", "whole-group", "group-plus-one", "equal-split-2"])
def test_legal_gqa_removals_accepted(request_):
    name = "llama-gqa"
    original = S.build(name)
    model = S.build(name)
    headprune.prune(model, heads=request_)
    exp = S.expected_layouts(name, request_)
    assert S.actual_layouts(name, model) == [(e.heads, e.kv_heads, e.head_dim) for e in exp]
    x = S.case(name).make_inputs()
    assert S.max_err(S.outputs(name, model, x), S.outputs(name, S.oracle(name, original, request_), x)) <= S.TOL


# -- RoPE head dims ----------------------------------------------------------------------

ROPE_EXACT = [n for n in S.ROPE if n not in S.INEXACT_DIMS]


@pytest.mark.parametrize("name", ROPE_EXACT, ids=ROPE_EXACT)
def test_rope_dim_without_its_partner_refused(name):
    # d/2 = 4 for every head here (Phi: rotary_ndims 8 of head_dim 16), so 1 pairs with 5
    refused(S.build(name), RopePairError, layer=0, match=re.escape("dims [1] are removed without their RoPE "
                                                                   "partners [(1, 5)]"),
            mode="head_dims", dims=[1])


@pytest.mark.parametrize("name", ROPE_EXACT, ids=ROPE_EXACT)
def test_rope_pairs_differing_across_layers_refused(name):
    refused(S.build(name), RopePairError, layer=1, match=r"differ from layer 0",
            mode="head_dims", dims={0: [1, 5], 1: [2, 6]})
    refused(S.build(name), RopePairError, layer=1, match=r"differ from layer 0",
            mode="head_dims", dims={0: [1, 5]})


def test_qwen3_head_dims_needs_allow_inexact():
    refused(S.build("qwen3"), InexactPruningError, layer=0, match="q_norm",
            mode="head_dims", dims=[1, 5])
    # allow_inexact lifts only the exactness rule, not the RoPE one
    refused(S.build("qwen3"), RopePairError, layer=0, mode="head_dims", dims=[1], allow_inexact=True)
    model = S.build("qwen3")
    headprune.prune(model, mode="head_dims", dims=[1, 5], allow_inexact=True)
    assert S.actual_layouts("qwen3", model) == [(8, 2, 6), (8, 2, 6)]


def test_scale_norm_heads_need_allow_inexact():
    # timm's scale_norm normalises over all heads' channels: removing heads is never exact
    from timm.layers import Attention

    torch.manual_seed(0)
    attn = Attention(32, num_heads=4, qkv_bias=True, scale_norm=True, norm_layer=nn.LayerNorm).eval()
    refused(attn, InexactPruningError, layer=0, match="norm", heads={0: [1]})
    headprune.prune(attn, heads={0: [1]}, allow_inexact=True)
    assert attn.num_heads == 3 and attn.norm.weight.shape == (24,)


# -- models headprune does not know ------------------------------------------------------

class BertLikeSelfAttention(nn.Module):
    """Looks like BERT's attention but is not a class headprune describes."""

    def __init__(self, hidden=32, heads=4):
        super().__init__()
        self.num_attention_heads = heads
        self.query, self.key, self.value = (nn.Linear(hidden, hidden) for _ in range(3))
        self.dense = nn.Linear(hidden, hidden)

    def forward(self, x):
        b, n, _ = x.shape
        q, k, v = (t(x).view(b, n, self.num_attention_heads, -1).transpose(1, 2)
                   for t in (self.query, self.key, self.value))
        return self.dense(torch.nn.functional.scaled_dot_product_attention(q, k, v).transpose(1, 2).reshape(b, n, -1))


@pytest.mark.parametrize("factory", [lambda: nn.Sequential(nn.Linear(8, 8), nn.ReLU(), nn.Linear(8, 2)),
                                     lambda: nn.Sequential(BertLikeSelfAttention(), nn.LayerNorm(32))],
                         ids=["sequential", "bert-like-custom"])
@pytest.mark.parametrize("kwargs", [dict(heads={0: [0]}), dict(ratio=0.25), dict(mode="head_dims", dims=[0])],
                         ids=["heads", "ratio", "dims"])
def test_unknown_layout(factory, kwargs):
    model = factory()
    refused(model, UnknownLayoutError, match=r"no attention layout headprune knows .*Sequential", **kwargs)


def test_known_class_with_inconsistent_weights():
    model = S.build("llama")
    model.model.layers[1].self_attn.v_proj = nn.Linear(32, 24, bias=False)  # 3 kv heads' worth of rows
    refused(model, UnknownLayoutError, layer=1, match=r"v has 24 rows, expected 32", heads={0: [1]})


# -- malformed requests ------------------------------------------------------------------

@pytest.mark.parametrize("ratio", [1.0, -0.1, "x", 1.5, float("nan"), True], ids=repr)
@pytest.mark.parametrize("name", ["vit", "llama-gqa"], ids=str)
def test_bad_ratio(name, ratio):
    refused(S.build(name), RequestError, match=r"ratio must be a number in \[0, 1\)", ratio=ratio)


@pytest.mark.parametrize("kwargs,match", [
    (dict(heads={0: [1]}, ratio=0.25), "exactly one"),
    (dict(), "exactly one"),
    (dict(mode="head_dims", dims=[1], ratio=0.25), "exactly one"),
    (dict(mode="heads", dims={0: [1]}), "takes heads=, not dims="),
    (dict(mode="head_dims", heads={0: [1]}), "takes dims=, not heads="),
    (dict(mode="head_dims", heads={0: [1]}, dims={0: [1]}), "takes dims=, not heads="),
    (dict(mode="bogus", heads={0: [1]}), "mode must be one of"),
    (dict(ratio=0.25, gqa="bogus"), "gqa must be one of"),
    (dict(heads={0: 1}), "list of integers"),
    (dict(heads={0: "1"}), "list of integers"),
    (dict(heads={0: [1.0]}), "must be integers"),
    (dict(heads={0: [True]}), "must be integers"),
    (dict(heads={"x": [1]}), "layer keys must be integers"),
    (dict(heads={1: [0], -1: [1]}), "given twice"),
], ids=["heads+ratio", "nothing", "dims+ratio", "dims-in-heads-mode", "heads-in-dims-mode", "both-in-dims-mode",
        "bad-mode", "bad-gqa", "ids-not-list", "ids-str", "id-float", "id-bool", "layer-key-str", "layer-twice"])
def test_malformed_request(kwargs, match):
    refused(S.build("llama-gqa"), RequestError, match=match, **kwargs)


def test_make_plan_touches_nothing():
    model = S.build("phi3-gqa")
    snap = S.Snapshot(model)
    plan, _ = headprune.make_plan(model, heads=S.HEADS["phi3-gqa"])
    assert [len(lp.keep_heads) for lp in plan.layers] == [4, 4]
    snap.assert_unchanged()


def test_a_described_class_whose_layout_fits_no_description_is_refused():
    # A release that renames a projection must not be skipped silently: the class is known.
    model = S.build("vit")
    attn = model.vit.layers[1].attention
    attn.query_proj = attn.q_proj
    del attn.q_proj
    with pytest.raises(UnknownLayoutError, match=r"vit\.layers\.1\.attention: .*ViTAttention is described"):
        headprune.attention_blocks(model)
    with pytest.raises(UnknownLayoutError):
        headprune.prune(model, {0: [0]})
