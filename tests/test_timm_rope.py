"""timm EVA-02's image RoPE under head_dims: one cached [tokens, sin | cos] table serves every
block, so whole interleaved pairs go, the same in every block, and the table's columns with
them; variants whose table cannot stay sliced are refused before anything changes."""
from __future__ import annotations

import pytest
import timm
import torch

import headprune
import models
from models.timm_models import _TINY


def _eva(**kw):
    return timm.create_model("eva02_tiny_patch14_224", **{**_TINY, **kw}).eval()


def test_the_table_keeps_the_columns_of_the_kept_dims():
    model = models.build("timm-eva")
    table = model.rope.pos_embed.clone()
    d = table.shape[1] // 2
    headprune.prune(model, mode="head_dims", dims=[2, 3])
    kept = [0, 1, 4, 5, 6, 7]
    assert torch.equal(model.rope.pos_embed, table[:, kept + [d + i for i in kept]])


@pytest.mark.parametrize("dims, partners", [([2], r"\(2, 3\)"), ([1, 2], r"\(0, 1\)")])
def test_half_a_pair_is_refused_naming_its_partner(dims, partners):
    model = models.build("timm-eva")
    with pytest.raises(headprune.RopePairError, match=partners):
        headprune.prune(model, mode="head_dims", dims=dims)


@pytest.mark.parametrize("kw, error, match", [
    (dict(dynamic_img_size=True), headprune.UnknownLayoutError, "rebuilt at run time"),
    (dict(rope_rotate_half=True), headprune.UnsupportedRopeError, "rotate_half"),
])
def test_tables_that_cannot_stay_sliced_are_refused_untouched(kw, error, match):
    model = _eva(**kw)
    before = {k: v.clone() for k, v in model.state_dict().items()}
    with pytest.raises(error, match=match):
        headprune.prune(model, mode="head_dims", ratio=0.5, multiple_of=1)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    headprune.prune(model, ratio=0.5)  # heads mode does not touch the table
