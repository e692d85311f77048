"""One rule for ids and numbers (issue 10, "Why" 7-8): repeated ids, bare head lists, gqa typos,
numeric ratio types, ratios that remove nothing, and ratio= on a model without weights."""
from __future__ import annotations

import warnings
from fractions import Fraction

import numpy as np
import pytest
import torch

import headprune
import hp_support as S
from headprune import NothingRemovedWarning, RequestError
from test_errors import refused


@pytest.mark.parametrize("ids", [[1, 1], (3, 1, 3), [np.int64(2), 2], [torch.tensor(0), 0]], ids=repr)
def test_a_head_listed_twice_is_refused(ids):
    err = refused(S.build("llama"), RequestError, layer=1, match=r"head \d is listed twice",
                  heads={0: [0], 1: ids})
    assert err.block == "model.layers.1.self_attn"


def test_a_dim_listed_twice_is_refused():
    refused(S.build("vit"), RequestError, layer=0, match=r"dim 3 is listed twice",
            mode="head_dims", dims={0: [3, 1, 3]})
    refused(S.build("llama"), RequestError, layer=0, match=r"dim 1 is listed twice",
            mode="head_dims", dims=[1, 5, 1])


@pytest.mark.parametrize("request_", [[1, 3], (0,), np.array([1])], ids=["list", "tuple", "array"])
def test_a_bare_list_of_heads_is_refused(request_):
    # prune(model, [1, 3]) reads as "layers 1 and 3" as easily as "heads 1 and 3 everywhere"
    refused(S.build("llama"), RequestError, match=r"heads= takes a mapping \{layer: \[head ids\]\}",
            heads=request_)


def test_a_bare_list_of_dims_means_every_layer():
    model = S.build("vit")
    report = headprune.prune(model, mode="head_dims", dims=[1, 6])
    assert report.kept_dims == {0: (0, 2, 3, 4, 5, 7), 1: (0, 2, 3, 4, 5, 7)}


@pytest.mark.parametrize("kwargs", [dict(heads={0: [0]}), dict(mode="head_dims", dims=[1, 5]), dict(heads={})],
                         ids=["heads", "dims", "empty"])
@pytest.mark.parametrize("gqa", ["bogus", "", None, 1])
def test_gqa_is_validated_without_a_ratio(kwargs, gqa):
    refused(S.build("llama-gqa"), RequestError, match="gqa must be one of", gqa=gqa, **kwargs)


@pytest.mark.parametrize("ratio", [np.float32(0.5), np.float64(0.5), torch.tensor(0.5), torch.tensor(0.5).double(),
                                   Fraction(1, 2)], ids=lambda r: type(r).__name__)
@pytest.mark.parametrize("mode", ["heads", "head_dims"])
def test_numeric_ratio_types_behave_like_a_float(ratio, mode):
    want = headprune.prune(S.build("llama-gqa"), mode=mode, ratio=0.5, multiple_of=1)  # head_dim 8: exact ratios
    got = headprune.prune(S.build("llama-gqa"), mode=mode, ratio=ratio, multiple_of=1)
    assert got.layers == want.layers and got.changed


@pytest.mark.parametrize("ratio", [np.bool_(True), torch.tensor(True), torch.tensor([0.5, 0.5]), torch.tensor(1.0),
                                   Fraction(3, 2), "0.5", None.__class__], ids=repr)
def test_non_ratios_are_refused(ratio):
    refused(S.build("vit"), RequestError, match=r"ratio must be a number in \[0, 1\)", ratio=ratio)


def test_a_ratio_that_removes_nothing_says_so():
    model = S.build("vit")  # 4 heads: round_half_up(4 * 0.1) = 0
    snap = S.Snapshot(model)
    with pytest.warns(NothingRemovedWarning, match=r"ratio=0.1 removes nothing"):
        report = headprune.prune(model, ratio=0.1)
    assert not report.changed and "nothing was removed" in str(report)
    snap.assert_unchanged()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert not headprune.prune(model, ratio=0.0).changed  # asked for nothing: no warning
        assert headprune.prune(model, ratio=0.25).changed


def test_ratio_on_a_meta_model_is_refused_clearly():
    with torch.device("meta"):
        model = S.case("llama").builder()
    assert model.model.layers[0].self_attn.q_proj.weight.is_meta
    shapes = {k: v.shape for k, v in model.state_dict().items()}
    with pytest.raises(RequestError, match=r"^layer 0 .*meta device .* pass heads=/dims= explicitly"):
        headprune.prune(model, ratio=0.5)  # (values cannot be compared on meta: shapes and record instead)
    assert {k: v.shape for k, v in model.state_dict().items()} == shapes
    assert not hasattr(model, "_headprune_record")
    # an explicit request needs no values: shapes and attributes follow
    report = headprune.prune(model, heads={0: [1], 1: [0, 2]})
    assert [lr.heads_after for lr in report.layers] == [3, 2]
    assert model.model.layers[1].self_attn.q_proj.weight.shape == (16, 32)


def test_phi3_partial_rotary_head_dims_is_refused_clearly():
    import transformers as tf

    cfg = S.build("phi3").config.to_dict()
    cfg["rope_parameters"] = dict(cfg["rope_parameters"], partial_rotary_factor=0.75)  # Phi-4-mini style
    model = tf.Phi3ForCausalLM(tf.Phi3Config.from_dict(cfg)).eval()
    refused(model, headprune.UnsupportedRopeError, layer=0,
            match=r"RoPE covers only 6 of the 8 dims of each head here \(partial rotary, e\.g\. "
                  r"partial_rotary_factor=0\.75\).*heads mode works", mode="head_dims", dims=[1, 5])
    headprune.prune(model, heads={0: [1]})  # whole heads do not touch the rotary part


@pytest.mark.parametrize("ids", [torch.tensor(1), np.int64(1), 1, {1: 2}], ids=repr)
def test_one_id_or_a_mapping_is_not_a_list_of_ids(ids):
    refused(S.build("vit"), RequestError, layer=0, match=r"head to remove must be a list of integers", heads={0: ids})
