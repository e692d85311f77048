"""Own only what you prune (issue 10, "Why" 2-3): configs shared with other modules or models are
never mutated, the record and the config sync land on the model that owns the blocks, and
wrappers (DDP-style ``module``, PEFT-style ``base_model.model``, torch.compile) are seen through."""
from __future__ import annotations

import copy

import pytest
import torch
from torch import nn

import headprune
import hp_support as S
from headprune.api import RECORD_ATTR
from headprune.config_overlay import ConfigOverlay


def _same_outputs(name, a, b):
    x = S.case(name).make_inputs()
    return all(S.max_err(p, q) <= S.TOL for p, q in zip(S.forward(name, a, x), S.forward(name, b, x)))


@pytest.mark.parametrize("name", ["llama-gqa", "phi3-gqa", "vit"])
def test_a_bare_attention_module_leaves_the_shared_config_alone(name):
    model = S.build(name)
    original = copy.deepcopy(model)
    config, before = model.config, model.config.to_dict()
    attn = S.attention_modules(S.case(name), model)[0]
    removed = S.HEADS[name][0]
    headprune.prune(attn, heads={0: removed})
    assert model.config is config and config.to_dict() == before  # layer 1 still has every head
    assert getattr(attn, RECORD_ATTR)["original_config"] is None  # the module owns no config
    assert getattr(model, RECORD_ATTR, None) is None
    assert _same_outputs(name, model, S.oracle(name, original, {0: removed}))


def test_two_models_built_from_one_config_object():
    from transformers import LlamaForCausalLM

    teacher_model = S.build("llama-gqa")
    config = teacher_model.config
    student = LlamaForCausalLM(config).eval()
    before = config.to_dict()
    headprune.prune(student, heads={0: [0, 1, 2, 3], 1: [4, 5, 6, 7]})
    assert config.to_dict() == before and teacher_model.config is config
    assert student.config is not config and student.config.num_attention_heads == 4
    assert student.config.num_key_value_heads == 1
    # every module of the student that read the old config now reads the student's own copy
    for module in student.modules():
        if "config" in module.__dict__:
            assert module.config is student.config
    assert _same_outputs("llama-gqa", teacher_model, S.build("llama-gqa"))  # teacher untouched


def test_the_phi3_overlays_follow_the_private_config():
    model = S.build("phi3-gqa")
    headprune.prune(model, heads=S.HEADS["phi3-gqa"])
    headprune.prune(model, heads=S.HEADS2["phi3-gqa"])
    for m in S.attention_modules(S.case("phi3-gqa"), model):
        assert isinstance(m.config, ConfigOverlay) and m.config.base is model.config
    model.set_attn_implementation("eager")  # the overlays see the live config, not a stale copy
    assert {m.config._attn_implementation for m in S.attention_modules(S.case("phi3-gqa"), model)} == {"eager"}


class DDPLike(nn.Module):
    def __init__(self, model):
        super().__init__()
        self.module = model

    def forward(self, *args, **kwargs):
        return self.module(*args, **kwargs)


class PeftLike(nn.Module):
    """PeftModel -> LoraModel -> the transformers model."""

    def __init__(self, model):
        super().__init__()
        self.base_model = nn.Module()
        self.base_model.model = model

    def forward(self, *args, **kwargs):
        return self.base_model.model(*args, **kwargs)


WRAPPERS = {"ddp": DDPLike, "peft": PeftLike, "compile": torch.compile,
            "ddp-of-compile": lambda m: DDPLike(torch.compile(m))}


@pytest.mark.parametrize("wrap", list(WRAPPERS), ids=str)
@pytest.mark.parametrize("name", ["llama-gqa", "timm-vit"])
def test_wrappers_are_seen_through(name, wrap, tmp_path):
    inner = S.build(name)
    wrapped = WRAPPERS[wrap](inner)
    headprune.prune(wrapped, heads=S.HEADS[name])
    assert getattr(inner, RECORD_ATTR)["steps"] and RECORD_ATTR not in wrapped.__dict__
    assert S.actual_layouts(name, inner) == [(e.heads, e.kv_heads, e.head_dim) for e in S.expected_layouts(name, S.HEADS[name])]
    if S.case(name).source == "hf":
        assert [m.q_proj.out_features for m in S.attention_modules(S.case(name), inner)] == [32, 48]
    headprune.save(wrapped, tmp_path)
    fresh = None if S.case(name).source == "hf" else WRAPPERS[wrap](S.build(name))
    loaded = headprune.load(tmp_path, model=fresh)
    assert _same_outputs(name, headprune.wrappers.unwrap(loaded), inner)


def test_a_module_with_parameters_of_its_own_is_not_a_wrapper():
    class Head(nn.Module):
        def __init__(self, model):
            super().__init__()
            self.module = model
            self.extra = nn.Linear(4, 4)

    inner = S.build("vit")
    outer = Head(inner)
    assert headprune.wrappers.unwrap(outer) is outer
    headprune.prune(outer, heads={0: [1]})  # blocks are still found inside; the record stays on outer
    assert getattr(outer, RECORD_ATTR)["original_config"] is None and getattr(inner, RECORD_ATTR, None) is None
