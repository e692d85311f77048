"""save/load: a saved pruned model comes back identical (HF: rebuilt from the saved config;
timm: replayed onto a fresh unpruned model), after one or two prunes, in both modes."""
from __future__ import annotations

import json

import pytest
import torch

import headprune
import hp_support as S
from headprune import RequestError, SaveFormatError
from headprune.api import RECORD_ATTR
from headprune.persistence import _record_digest


def _prune(model, name, mode):
    if mode == "heads":
        headprune.prune(model, heads=S.HEADS[name])
    else:
        headprune.prune(model, mode="head_dims", dims=S.DIMS[name], allow_inexact=name in S.INEXACT_DIMS)


def _load(name, directory, backend="sdpa"):
    if S.case(name).source == "hf":
        return headprune.load(directory)
    return headprune.load(directory, model=S.build(name, backend))


def _attrs(model):
    return S.Snapshot._attrs(model)


def assert_identical(name, model, loaded):
    c = S.case(name)
    assert type(loaded) is type(model) and loaded is not model
    assert not loaded.training
    assert S.actual_layouts(name, loaded) == S.actual_layouts(name, model)
    sd, sl = model.state_dict(), loaded.state_dict()
    assert sd.keys() == sl.keys()
    for k in sd:
        assert torch.equal(sd[k], sl[k]), k
    bd, bl = dict(model.named_buffers()), dict(loaded.named_buffers())  # incl. sliced inv_freq
    assert bd.keys() == bl.keys()
    for k in bd:
        assert torch.equal(bd[k], bl[k]), k
    assert _attrs(loaded) == _attrs(model)
    if c.source == "hf":
        assert loaded.config.to_dict() == model.config.to_dict()
        assert loaded.config._attn_implementation == model.config._attn_implementation
    x = c.make_inputs()
    for a, b in zip(S.forward(name, model, x), S.forward(name, loaded, x)):
        assert torch.equal(a, b)
    if c.generative:
        assert torch.equal(S.generate(model, x), S.generate(loaded, x))


@pytest.mark.parametrize("mode", ["heads", "head_dims"])
@pytest.mark.parametrize("name", S.CASES, ids=S.CASES)
def test_round_trip(name, mode, tmp_path):
    model = S.build(name, "sdpa")
    _prune(model, name, mode)
    headprune.save(model, tmp_path)
    stock_config = {"config.json"} if S.case(name).source == "hf" else set()
    if getattr(model, "generation_config", None) is not None:
        stock_config.add("generation_config.json")
    assert {p.name for p in tmp_path.iterdir()} == {"headprune.json", "model.safetensors"} | stock_config
    assert_identical(name, model, _load(name, tmp_path))


@pytest.mark.parametrize("second", ["heads", "head_dims"])
@pytest.mark.parametrize("name", S.CASES, ids=S.CASES)
def test_round_trip_after_two_prunes(name, second, tmp_path):
    model = S.build(name, "sdpa")
    headprune.prune(model, heads=S.HEADS[name])
    if second == "heads":
        headprune.prune(model, heads=S.HEADS2[name])
    else:
        _prune(model, name, "head_dims")
    headprune.save(model, tmp_path)
    assert len(json.loads((tmp_path / "headprune.json").read_text())["steps"]) == 2
    loaded = _load(name, tmp_path)
    assert_identical(name, model, loaded)
    # and what was loaded still matches the oracle of the composed removal
    if second == "heads":
        rh, rd = S.compose(S.HEADS[name], S.HEADS2[name], S.case(name).num_heads), None
    else:
        rh, rd = S.HEADS[name], S.DIMS[name]
    if name not in S.INEXACT_DIMS or second == "heads":
        x = S.case(name).make_inputs()
        oracle = S.oracle(name, S.build(name, "sdpa"), rh, rd)
        for a, b in zip(S.forward(name, loaded, x), S.forward(name, oracle, x)):
            assert S.max_err(a, b) <= S.TOL


@pytest.mark.parametrize("name", ["llama-gqa", "phi3-gqa", "phi", "swin", "bert"])
def test_hf_load_onto_a_fresh_model(name, tmp_path):
    model = S.build(name, "sdpa")
    _prune(model, name, "heads")
    _prune(model, name, "head_dims")
    headprune.save(model, tmp_path)
    assert_identical(name, model, headprune.load(tmp_path, model=S.build(name, "sdpa")))


def test_save_of_a_loaded_model(tmp_path):
    name = "phi3-gqa"
    model = S.build(name, "sdpa")
    _prune(model, name, "heads")
    headprune.save(model, tmp_path / "a")
    once = headprune.load(tmp_path / "a")
    headprune.prune(once, heads={1: [0, 2]})  # one more step on the loaded model (one per group)
    headprune.prune(model, heads={1: [0, 2]})
    headprune.save(once, tmp_path / "b")
    assert_identical(name, model, headprune.load(tmp_path / "b"))


@pytest.mark.parametrize("name", ["bert", "llama-gqa", "timm-vit"])
def test_unpruned_save_round_trips(name, tmp_path):
    model = S.build(name, "sdpa")
    headprune.save(model, tmp_path)
    assert_identical(name, model, _load(name, tmp_path))


@pytest.mark.parametrize("name", ["llama-gqa", "timm-swin", "phi3"])
def test_load_into_an_already_pruned_model_raises(name, tmp_path):
    model = S.build(name, "sdpa")
    _prune(model, name, "heads")
    headprune.save(model, tmp_path)
    target = S.build(name, "sdpa")
    headprune.prune(target, heads={0: S.HEADS[name][0]})
    snap = S.Snapshot(target)
    with pytest.raises(RequestError, match="unpruned model"):
        headprune.load(tmp_path, model=target)
    snap.assert_unchanged()
    assert getattr(target, RECORD_ATTR)["steps"]  # still its own single step


def test_timm_load_needs_a_model(tmp_path):
    model = S.build("timm-vit")
    _prune(model, "timm-vit", "heads")
    headprune.save(model, tmp_path)
    with pytest.raises(RequestError, match="pass model="):
        headprune.load(tmp_path)


def test_load_into_a_different_architecture_raises(tmp_path):
    model = S.build("llama-gqa")
    _prune(model, "llama-gqa", "heads")
    headprune.save(model, tmp_path)
    target = S.build("llama")  # 4 heads: the saved plan keeps heads 4..7
    snap = S.Snapshot(target)
    with pytest.raises(RequestError, match="does not fit"):
        headprune.load(tmp_path, model=target)
    snap.assert_unchanged()


def test_unknown_format_raises(tmp_path):
    model = S.build("vit")
    _prune(model, "vit", "heads")
    headprune.save(model, tmp_path)
    record = json.loads((tmp_path / "headprune.json").read_text())
    record["format"] = 999
    (tmp_path / "headprune.json").write_text(json.dumps(record))
    with pytest.raises(SaveFormatError, match="format 999"):
        headprune.load(tmp_path)


def test_a_later_step_that_does_not_fit_leaves_the_model_untouched(tmp_path):
    model = S.build("llama-gqa")
    headprune.prune(model, heads={0: [0, 1, 2, 3]})      # layer 0: 8 -> 4 heads
    headprune.prune(model, heads={1: [0, 1, 2, 3]})
    headprune.save(model, tmp_path)
    record = json.loads((tmp_path / "headprune.json").read_text())
    record["steps"][1]["layers"][0]["keep_heads"] = [0, 1, 2, 3, 7]  # fits 8 heads, not the 4 left after step 1
    record["record_sha256"] = _record_digest(record)  # a crafted file, not a corrupted one
    (tmp_path / "headprune.json").write_text(json.dumps(record))
    target = S.build("llama-gqa")
    snap = S.Snapshot(target)
    with pytest.raises(RequestError, match="saved step 2 does not fit"):
        headprune.load(tmp_path, model=target)
    snap.assert_unchanged()
