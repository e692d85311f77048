"""Exactness: a pruned model computes what the original computes with the removed heads
(or dims) masked out, for every zoo case, both modes and both attention backends, with
non-uniform explicit requests; generation (dynamic and static cache) and backward too."""
from __future__ import annotations

import pytest
import torch

import headprune
import hp_support as S
import models

BACKENDS = ("eager", "sdpa")
EXACT = [(n, m) for n in S.CASES for m in ("heads", "head_dims")
         if not (m == "head_dims" and n in S.INEXACT_DIMS)]
EXACT_IDS = [f"{n}-{m}" for n, m in EXACT]


def _request(name, mode):
    if mode == "heads":
        return dict(heads=S.HEADS[name]), S.HEADS[name], None
    return dict(mode="head_dims", dims=S.DIMS[name]), None, S.DIMS[name]


def _pruned(name, mode, backend):
    if backend not in models.available_backends(name):
        pytest.skip(f"{name} cannot switch to {backend} with this transformers release")
    original = S.build(name, backend)
    model = S.build(name, backend)
    kwargs, rh, rd = _request(name, mode)
    headprune.prune(model, **kwargs)
    return original, model, S.oracle(name, original, rh, rd), rh, rd


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name,mode", EXACT, ids=EXACT_IDS)
def test_matches_oracle_and_trains(name, mode, backend):
    c = S.case(name)
    original, model, oracle, rh, rd = _pruned(name, mode, backend)
    exp = S.expected_layouts(name, rh, rd)
    assert S.actual_layouts(name, model) == [(e.heads, e.kv_heads, e.head_dim) for e in exp]
    if not (mode == "head_dims" and "rope" in c.tags and name != "phi"):  # RoPE pairs must be uniform
        assert len({(e.heads, e.kv_heads, e.head_dim) for e in exp}) > 1, "request should be non-uniform"
    padded = c.make_inputs()                                  # last row padded (left for causal LMs)
    plain = c.make_inputs(batch=1, seq_len=5, pad=0, seed=1)  # no padding at all
    for x in (padded, plain):
        for got, want in zip(S.forward(name, model, x), S.forward(name, oracle, x)):
            assert torch.isfinite(got).all()
            assert S.max_err(got, want) <= S.TOL
    # the oracle really differs from the unpruned model, so the comparison above can fail
    assert S.max_err(S.forward(name, original, padded)[1], S.forward(name, oracle, padded)[1]) > 1e-3

    # backward through the pruned model: grads exist and have the (new) parameter shapes
    if c.generative:
        loss = model(**padded, labels=padded["input_ids"]).loss
    else:
        loss = models.logits(c, model, padded).square().mean()
    loss.backward()
    for pname, p in model.named_parameters():
        if p.grad is not None:
            assert p.grad.shape == p.shape, pname
    for part in S.parts(c, model, *zip(*S.actual_layouts(name, model))):
        for lin in {id(t[0]): t[0] for t in (part.q, part.k, part.v)}.values():
            assert lin.weight.grad is not None and lin.weight.grad.abs().sum() > 0
        assert part.o.weight.grad is not None and part.o.weight.grad.abs().sum() > 0
        if part.table is not None:
            assert part.table.grad is not None and part.table.grad.shape == part.table.shape


CAUSAL_EXACT = [(n, m) for n, m in EXACT if n in S.CAUSAL]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name,mode", CAUSAL_EXACT, ids=[f"{n}-{m}" for n, m in CAUSAL_EXACT])
def test_generate_matches_oracle(name, mode, backend):
    c = S.case(name)
    _, model, oracle, _, _ = _pruned(name, mode, backend)
    x = c.make_inputs()  # left-padded batch: decode steps read num_key_value_groups
    for static in (False, True):  # default DynamicCache, then StaticCache
        got = S.generate(model, x, static=static)
        want = S.generate(oracle, x, static=static)
        assert got.shape[1] > x["input_ids"].shape[1]
        assert torch.equal(got, want), f"static={static}"


@pytest.mark.parametrize("backend", BACKENDS)
def test_qwen3_head_dims_is_inexact_by_design(backend):
    """q_norm/k_norm are RMS norms over one head's dims: removing dims changes the kept dims'
    values. headprune refuses unless asked, and then runs but cannot match the oracle."""
    name = "qwen3"
    c = S.case(name)
    original, model = S.build(name, backend), S.build(name, backend)
    with pytest.raises(headprune.InexactPruningError):
        headprune.prune(model, mode="head_dims", dims=S.DIMS[name])
    headprune.prune(model, mode="head_dims", dims=S.DIMS[name], allow_inexact=True)
    assert S.actual_layouts(name, model) == [(8, 2, 6), (8, 2, 6)]
    x = c.make_inputs()
    got = S.outputs(name, model, x)
    assert torch.isfinite(got).all()
    assert S.max_err(got, S.outputs(name, S.oracle(name, original, None, S.DIMS[name]), x)) > 1e-3
    assert S.generate(model, x).shape[1] > x["input_ids"].shape[1]
