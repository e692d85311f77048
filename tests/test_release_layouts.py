"""Layouts that differ by release or by fusion: forward rewrites telling releases apart, the
zoo refusing backend switches a release cannot make, ConViT's fused [q | k] with its own v and
per-head positional rows and gates."""
from __future__ import annotations

import sys
import types

import pytest
import torch
from torch import nn

import headprune
import models
from headprune.families import Family, fits
from headprune.families.spec import Attr, qkv_row_index
from models import registry


def test_qk_layout_rows_and_kv_count():
    rows = qkv_row_index("qk", heads=4, kv_heads=2, d=3)
    assert set(rows) == {"q", "k"} and rows["k"][0] == 12 and len(rows["k"]) == 6
    block = headprune.attention_blocks(models.build("timm-convit"))[0]
    assert block.family.fused_roles == ("q", "k")
    assert set(block.projections()) == {"qkv", "v", "o"}
    assert (block.num_heads, block.num_kv_heads, block.head_dim) == (4, 4, 8)
    assert block.qkv_rows()["v"].lin is block.module.v


def test_convit_gates_and_positional_rows_follow_their_heads():
    model = models.build("timm-convit")
    gpsa = model.blocks[0].attn
    gate, pos_w, pos_b = (gpsa.gating_param.detach().clone(), gpsa.pos_proj.weight.detach().clone(),
                          gpsa.pos_proj.bias.detach().clone())
    headprune.prune(model, {0: [0, 2]})
    assert torch.equal(gpsa.gating_param, gate[[1, 3]])
    assert torch.equal(gpsa.pos_proj.weight, pos_w[[1, 3]]) and torch.equal(gpsa.pos_proj.bias, pos_b[[1, 3]])
    assert gpsa.pos_proj.out_features == 2 and gpsa.num_heads == 2


class _Reshapes(nn.Module):
    def __init__(self):
        super().__init__()
        self.q, self.k, self.v, self.o = (nn.Linear(8, 8) for _ in range(4))
        self.num_heads = 2

    def forward(self, x):
        B, N, C = x.shape
        return self.o(self.v(x).reshape(B, N, C))


def test_a_description_fits_only_where_its_forward_rewrites_apply():
    base = dict(classes=(), q="q", k="k", v="v", o="o", attrs=(Attr("num_heads", "heads"),))
    applies = Family(name="applies", forward_rewrites=(("reshape(B, N, C)", "reshape(B, N, -1)"),), **base)
    stale = Family(name="stale", forward_rewrites=(("reshape(B, C, N)", "reshape(B, -1, N)"),), **base)
    module = _Reshapes()
    assert fits(applies, module) and not fits(stale, module)
    rewritten = headprune.surgery.rewritten_class(_Reshapes, applies.forward_rewrites)
    module.__class__ = rewritten
    assert fits(applies, module)  # already rewritten: it fits as it is


def test_backend_switches_a_release_cannot_make_are_refused():
    """A module built from a per-backend class table (transformers 4.x) cannot switch backend."""
    fake = types.ModuleType("fake_modeling")

    class Eager(nn.Module):
        pass

    class Sdpa(Eager):
        pass

    Eager.__module__ = Sdpa.__module__ = fake.__name__
    fake.FAKE_ATTENTION_CLASSES = {"eager": Eager, "sdpa": Sdpa}
    sys.modules[fake.__name__] = fake
    try:
        model = nn.Sequential(Eager())
        with pytest.raises(ValueError, match="fixes the attention class at construction"):
            registry._refuse_fixed_attention_classes(model, "sdpa")
        registry._refuse_fixed_attention_classes(model, "eager")
        registry._refuse_fixed_attention_classes(nn.Sequential(Sdpa()), "sdpa")
    finally:
        del sys.modules[fake.__name__]
