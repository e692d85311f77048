"""Sync: after (non-uniform) pruning every attribute the runtime reads or mirrors holds the
new value, config fields follow when all layers agree and are left alone when they do not,
Phi-3 gets a live per-module config overlay, and RoPE frequencies are sliced."""
from __future__ import annotations

import copy
import math

import pytest
import torch

import headprune
import hp_support as S
from headprune.config_overlay import ConfigOverlay
from headprune.families import family_of

MISSING = object()

# Attributes the runtime reads (shared/docs/attention-map.md §2), relative to the attention
# module, with the quantity each must hold. Written out here, not taken from headprune.
REQUIRED = {
    "vit": [("num_attention_heads", "heads"), ("head_dim", "head_dim")],
    "deit": [("num_attention_heads", "heads"), ("head_dim", "head_dim")],
    "swin": [("num_attention_heads", "heads"), ("head_dim", "head_dim")],
    "bert": [("self.num_attention_heads", "heads"), ("self.attention_head_size", "head_dim"),
             ("self.all_head_size", "q_width")],
    "llama": [("num_key_value_groups", "groups"), ("head_dim", "head_dim")],
    "qwen2": [("num_key_value_groups", "groups"), ("head_dim", "head_dim")],
    "qwen3": [("num_key_value_groups", "groups"), ("head_dim", "head_dim")],
    "phi": [("num_key_value_groups", "groups"), ("head_dim", "head_dim"), ("rotary_ndims", "rotary_dim")],
    "phi3": [("num_key_value_groups", "groups"), ("num_key_value_heads", "kv_heads"), ("head_dim", "head_dim"),
             ("config.num_attention_heads", "heads"), ("config.num_key_value_heads", "kv_heads")],
    "timm-vit": [("num_heads", "heads"), ("attn_dim", "q_width"), ("head_dim", "head_dim")],
    "timm-deit": [("num_heads", "heads"), ("attn_dim", "q_width"), ("head_dim", "head_dim")],
    "timm-swin": [("num_heads", "heads")],
}


def _get(obj, dotted, default=MISSING):
    for part in dotted.split("."):
        obj = obj.get(part, default) if isinstance(obj, dict) else getattr(obj, part, default)
        if obj is default:
            return default
    return obj


def _expected(name, rh, rd):
    c = S.case(name)
    out = []
    for i, lay in enumerate(S.expected_layouts(name, rh, rd)):
        d = lay.head_dim
        gone = set((rd or {}).get(i, ()))
        rot = 8 if name == "phi" else c.head_dim  # phi: rotary_ndims = 16 * 0.5
        rot -= sum(1 for j in gone if j < rot)
        out.append({"heads": lay.heads, "kv_heads": lay.kv_heads, "head_dim": d, "groups": lay.groups,
                    "q_width": lay.heads * d, "rotary_dim": rot, "scaling": d ** -0.5})
    return out


MODES = [(n, m) for n in S.CASES for m in ("heads", "head_dims")]


@pytest.mark.parametrize("name,mode", MODES, ids=[f"{n}-{m}" for n, m in MODES])
def test_module_attributes(name, mode):
    c = S.case(name)
    model = S.build(name)
    rh, rd = (S.HEADS[name], None) if mode == "heads" else (None, S.DIMS[name])
    if mode == "heads":
        headprune.prune(model, heads=rh)
    else:
        headprune.prune(model, mode="head_dims", dims=rd, allow_inexact=name in S.INEXACT_DIMS)
    expected = _expected(name, rh, rd)
    for i, (m, exp) in enumerate(zip(S.attention_modules(c, model), expected)):
        for path, qty in REQUIRED[c.family]:
            assert _get(m, path) == exp[qty], (i, path)
        fam = family_of(m)
        assert fam is not None
        for attr in fam.attrs:
            got = _get(m, attr.path)
            if attr.value == "scaling":
                # the softmax scale a reload of the new width computes; q carries sqrt(d'/d)
                assert got == pytest.approx(exp["scaling"], rel=1e-6), (i, attr.path)
            else:
                assert got == exp[attr.value], (i, attr.path)
        table = S.parts(c, model)[i].table
        if table is not None:
            assert table.shape[1] == exp["heads"], i


@pytest.mark.parametrize("name", ["llama", "llama-gqa", "phi", "phi3-gqa", "vit", "timm-vit", "bert", "swin"])
def test_q_carries_the_width_fold(name):
    """Head-dim pruning keeps the original softmax scale by folding sqrt(d'/d) into the q rows
    (shared/docs/attention-map.md §5), so scale = d'^-0.5 (what SDPA's default and a reload use)
    gives back d^-0.5; k and v rows are copied unchanged."""
    c = S.case(name)
    original, model = S.build(name), S.build(name)
    rd = S.DIMS[name]
    headprune.prune(model, mode="head_dims", dims=rd)
    d = c.head_dim
    before = S.parts(c, original)
    after = S.parts(c, model, c.num_heads, c.num_kv_heads, [d - len(rd.get(i, ())) for i in range(c.num_layers)])
    for i, (b, a) in enumerate(zip(before, after)):
        keep = [j for j in range(d) if j not in rd.get(i, ())]
        factor = math.sqrt(len(keep) / d)
        for role, scale in (("q", factor), ("k", 1.0), ("v", 1.0)):
            lin_b, start_b, stop_b = getattr(b, role)
            lin_a, start_a, stop_a = getattr(a, role)
            rows = [start_b + h * d + j for h in range((stop_b - start_b) // d) for j in keep]
            torch.testing.assert_close(lin_a.weight[start_a:stop_a], lin_b.weight[rows] * scale, rtol=0, atol=1e-7)
            if lin_b.bias is not None:
                torch.testing.assert_close(lin_a.bias[start_a:stop_a], lin_b.bias[rows] * scale, rtol=0, atol=1e-7)


# -- config fields -----------------------------------------------------------------------

CONFIG_CASES = [
    # (id, case, prune kwargs, {config field: expected value}; fields not listed must not change)
    ("llama-uniform", "llama", dict(heads={0: [1], 1: [2]}),
     {"num_attention_heads": 3, "num_key_value_heads": 3, "head_dim": 8}),
    ("llama-nonuniform", "llama", dict(heads=S.HEADS["llama"]), {"head_dim": 8}),
    ("llama-gqa-groups", "llama-gqa", dict(heads={0: [0, 1, 2, 3], 1: [4, 5, 6, 7]}),
     {"num_attention_heads": 4, "num_key_value_heads": 1, "head_dim": 8}),
    ("llama-gqa-equal", "llama-gqa", dict(heads={0: [0, 4], 1: [1, 5]}),
     {"num_attention_heads": 6, "num_key_value_heads": 2, "head_dim": 8}),
    ("llama-gqa-nonuniform", "llama-gqa", dict(heads=S.HEADS["llama-gqa"]), {"head_dim": 8}),
    ("llama-dims", "llama", dict(mode="head_dims", dims=[1, 5]),
     {"num_attention_heads": 4, "num_key_value_heads": 4, "head_dim": 6}),
    ("qwen3-uniform", "qwen3", dict(heads={0: [0, 4], 1: [3, 7]}),
     {"num_attention_heads": 6, "num_key_value_heads": 2, "head_dim": 8}),
    ("phi-dims-uniform", "phi", dict(mode="head_dims", dims=[1, 5, 9]),
     {"num_attention_heads": 4, "num_key_value_heads": 4, "head_dim": 13,
      "rope_parameters.partial_rotary_factor": 6 / 13}),
    ("phi-dims-nonuniform", "phi", dict(mode="head_dims", dims=S.DIMS["phi"]),
     {"num_attention_heads": 4, "num_key_value_heads": 4}),
    ("phi3-gqa-uniform", "phi3-gqa", dict(heads={0: [4, 5, 6, 7], 1: [0, 1, 2, 3]}),
     {"num_attention_heads": 4, "num_key_value_heads": 1, "head_dim": 8}),
    # 4 heads in both layers (agree: synced) but 1 and 2 kv heads (disagree: left alone)
    ("phi3-gqa-nonuniform", "phi3-gqa", dict(heads=S.HEADS["phi3-gqa"]), {"num_attention_heads": 4, "head_dim": 8}),
    ("vit-uniform", "vit", dict(heads={0: [1], 1: [1]}), {"num_attention_heads": 3, "head_dim": 8}),
    ("vit-nonuniform", "vit", dict(heads=S.HEADS["vit"]), {"head_dim": 8}),
    ("vit-dims-uniform", "vit", dict(mode="head_dims", dims=[1]), {"num_attention_heads": 4, "head_dim": 7}),
    ("vit-dims-nonuniform", "vit", dict(mode="head_dims", dims=S.DIMS["vit"]), {"num_attention_heads": 4}),
    ("bert-uniform", "bert", dict(heads={0: [0], 1: [3]}), {"num_attention_heads": 3}),
    ("bert-nonuniform", "bert", dict(heads=S.HEADS["bert"]), {}),
    ("swin-stage0", "swin", dict(heads={0: [1], 1: [0]}), {"num_heads": [1, 4]}),
    ("swin-stage1", "swin", dict(heads={2: [0, 2], 3: [1, 3]}), {"num_heads": [2, 2]}),
    ("swin-nonuniform", "swin", dict(heads=S.HEADS["swin"]), {"num_heads": [2, 4]}),
    ("swin-mixed", "swin", dict(heads={0: [1], 1: [1], 2: [0], 3: [2, 3]}), {"num_heads": [1, 4]}),
]


@pytest.mark.parametrize("name,kwargs,expected", [c[1:] for c in CONFIG_CASES], ids=[c[0] for c in CONFIG_CASES])
def test_config_fields(name, kwargs, expected):
    model = S.build(name)
    before = copy.deepcopy(model.config.to_dict())
    headprune.prune(model, **kwargs)
    after = model.config.to_dict()
    for field, value in expected.items():
        got = _get(model.config, field)
        assert got == pytest.approx(value) if isinstance(value, float) else got == value, field
    # everything else is as it was (fields whose layers disagree are left alone)
    # per_layer_config holds the stock-load marker when transformers cannot rebuild the model (test_stock_format)
    touched_top = {f.split(".")[0] for f in expected} | {"per_layer_config", "allow_global_per_layer_attribute_access"}
    # ... and layer entries with per-layer shapes when layers differ (test_stock_format checks the values)
    assert all(k.startswith("pruned by headprune") or k.isdigit() for k in after.get("per_layer_config", {}))
    for key in set(before) | set(after):
        if key in touched_top:
            if isinstance(before.get(key), dict):  # nested: only the listed subfields change
                subs = {f.split(".", 1)[1] for f in expected if f.startswith(key + ".")}
                for sk in set(before[key]) | set(after[key]):
                    if sk not in subs:
                        assert after[key].get(sk, MISSING) == before[key].get(sk, MISSING), (key, sk)
            continue
        assert after.get(key, MISSING) == before.get(key, MISSING), key


# -- Phi-3 private config overlays --------------------------------------------------------

def test_phi3_overlay_per_module():
    name = "phi3-gqa"
    model = S.build(name, "sdpa")
    headprune.prune(model, heads=S.HEADS[name])
    exp = S.expected_layouts(name, S.HEADS[name])
    attns = S.attention_modules(S.case(name), model)
    assert attns[0].config is not attns[1].config
    for attn, e in zip(attns, exp):
        assert isinstance(attn.config, ConfigOverlay)
        assert attn.config.base is model.config
        assert attn.config.overrides == {"num_attention_heads": e.heads, "num_key_value_heads": e.kv_heads,
                                         "head_dim": 8}
        assert attn.config.num_attention_heads == e.heads
        assert attn.config.vocab_size == model.config.vocab_size  # everything else reads through
    # both layers keep 4 heads (synced); they keep 1 and 2 kv heads (left alone)
    assert model.config.num_attention_heads == 4 and model.config.num_key_value_heads == 2


def test_phi3_overlay_follows_set_attn_implementation():
    name = "phi3-gqa"
    c = S.case(name)
    original, model = S.build(name, "sdpa"), S.build(name, "sdpa")
    headprune.prune(model, heads=S.HEADS[name])
    oracle = S.oracle(name, original, S.HEADS[name])
    x = c.make_inputs()
    attns = S.attention_modules(c, model)
    assert [a.config._attn_implementation for a in attns] == ["sdpa", "sdpa"]
    for backend in ("eager", "sdpa", "eager"):
        model.set_attn_implementation(backend)
        assert model.config._attn_implementation == backend
        assert [a.config._attn_implementation for a in attns] == [backend, backend]
        assert all(isinstance(a.config, ConfigOverlay) and a.config.base is model.config for a in attns)
        assert S.max_err(S.outputs(name, model, x), S.outputs(name, oracle, x)) <= S.TOL
        assert torch.equal(S.generate(model, x), S.generate(oracle, x))


def test_phi3_overlay_survives_deepcopy():
    name = "phi3-gqa"
    c = S.case(name)
    model = S.build(name, "sdpa")
    headprune.prune(model, heads=S.HEADS[name])
    clone = copy.deepcopy(model)
    for a, b in zip(S.attention_modules(c, model), S.attention_modules(c, clone)):
        assert b.config is not a.config and b.config.base is clone.config
        assert b.config.overrides == a.config.overrides
    clone.set_attn_implementation("eager")
    assert [a.config._attn_implementation for a in S.attention_modules(c, model)] == ["sdpa", "sdpa"]
    assert [b.config._attn_implementation for b in S.attention_modules(c, clone)] == ["eager", "eager"]
    x = c.make_inputs()
    assert S.max_err(S.outputs(name, model, x), S.outputs(name, clone, x)) <= S.TOL


@pytest.mark.parametrize("name", ["llama-gqa", "qwen3", "phi", "bert", "vit"])
def test_other_families_keep_the_shared_config(name):
    model = S.build(name)
    headprune.prune(model, heads=S.HEADS[name])
    for m in S.attention_modules(S.case(name), model):
        cfg = getattr(m, "config", None)
        assert cfg is None or cfg is model.config


# -- RoPE frequencies --------------------------------------------------------------------

@pytest.mark.parametrize("name", [n for n in S.ROPE if n not in S.INEXACT_DIMS])
def test_rotary_frequencies_sliced(name):
    original, model = S.build(name), S.build(name)
    rd = S.DIMS[name]
    half = 4  # rotary dims per head / 2 in every RoPE case here
    removed_pairs = {j for j in rd[0] if j < half}
    keep = [p for p in range(half) if p not in removed_pairs]
    headprune.prune(model, mode="head_dims", dims=rd)
    rot_o, rot_m = original.model.rotary_emb, model.model.rotary_emb
    for buf in ("inv_freq", "original_inv_freq"):
        assert torch.equal(getattr(rot_m, buf), getattr(rot_o, buf)[keep]), buf
    # heads-only pruning leaves them alone
    other = S.build(name)
    headprune.prune(other, heads=S.HEADS[name])
    assert torch.equal(other.model.rotary_emb.inv_freq, rot_o.inv_freq)


def test_timm_models_get_no_config():
    model = S.build("timm-vit")
    headprune.prune(model, heads=S.HEADS["timm-vit"])
    assert not hasattr(model, "config")
    assert all(not hasattr(m, "config") for m in S.attention_modules(S.case("timm-vit"), model))
