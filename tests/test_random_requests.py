"""Random requests (hypothesis, derandomized): headprune accepts exactly the requests an
independent statement of the rules calls legal, refuses the rest without touching the
model, and every accepted one matches the oracle."""
from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import headprune
import hp_support as S

SETTINGS = settings(max_examples=20, deadline=None, derandomize=True, database=None,
                    suppress_health_check=[HealthCheck.too_slow])


def _legal_heads(name, removed):
    c = S.case(name)
    for i in range(c.num_layers):
        h, kv = c.num_heads[i], c.num_kv_heads[i]
        g = h // kv
        gone = set(removed.get(i, ()))
        if len(gone) == h:
            return False
        kept_per_group = {len([q for q in range(j * g, (j + 1) * g) if q not in gone]) for j in range(kv)}
        if len(kept_per_group - {0}) > 1:
            return False
    return True


def _check(name, removed_heads=None, removed_dims=None, legal=True, **kwargs):
    original, model = S.build(name), S.build(name)
    if not legal:
        snap = S.Snapshot(model)
        with pytest.raises(headprune.PruningError):
            headprune.prune(model, **kwargs)
        snap.assert_unchanged()
        return
    headprune.prune(model, **kwargs)
    x = S.case(name).make_inputs()
    oracle = S.oracle(name, original, removed_heads, removed_dims)
    for a, b in zip(S.forward(name, model, x), S.forward(name, oracle, x)):
        assert S.max_err(a, b) <= S.TOL


def _head_requests(name):
    c = S.case(name)
    return st.fixed_dictionaries({i: st.sets(st.integers(0, c.num_heads[i] - 1)).map(sorted)
                                  for i in range(c.num_layers)})


@pytest.mark.parametrize("name", ["llama-gqa", "phi3-gqa", "timm-swin", "vit"])
def test_random_head_requests(name):
    @SETTINGS
    @given(_head_requests(name))
    def run(removed):
        _check(name, removed_heads=removed, legal=_legal_heads(name, removed), heads=removed)

    run()


@pytest.mark.filterwarnings("ignore::headprune.NothingRemovedWarning")  # small random ratios may round to 0
@pytest.mark.parametrize("name", ["swin", "qwen2"])
def test_random_ratios_never_empty_a_layer(name):
    @SETTINGS
    @given(st.floats(0.0, 0.999), st.sampled_from(["equal", "groups"]))
    def run(ratio, gqa):
        original, model = S.build(name), S.build(name)
        report = headprune.prune(model, ratio=ratio, gqa=gqa)  # a ratio never takes a layer's last head
        assert all(lr.heads_after >= 1 for lr in report.layers)
        x = S.case(name).make_inputs()
        oracle = S.oracle(name, original, report.removed_heads)
        for a, b in zip(S.forward(name, model, x), S.forward(name, oracle, x)):
            assert S.max_err(a, b) <= S.TOL

    run()


@pytest.mark.parametrize("name", ["llama", "phi"])
def test_random_rope_dim_requests(name):
    c = S.case(name)
    rot = 8  # rotated dims per head (phi: 8 of 16)

    @SETTINGS
    @given(st.sets(st.integers(0, c.head_dim - 1)).map(sorted))
    def run(dims):
        rotated = {j for j in dims if j < rot}
        legal = (all((j + rot // 2) % rot in rotated for j in rotated)
                 and len(rotated) < rot and len(dims) < c.head_dim)
        _check(name, removed_dims={i: dims for i in range(c.num_layers)}, legal=legal,
               mode="head_dims", dims=dims)

    run()
