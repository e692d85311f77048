"""Sliced RoPE frequencies never reload silently through stock from_pretrained, on any release:
the weight shapes agree with the pruned config, but transformers recomputes the frequencies from
head_dim (verified 2.9 off on transformers 4.57.6 before the marker covered releases without
per_layer_config). headprune's own round trip stays exact."""
from __future__ import annotations

import pytest

import headprune
import hp_support as S

MARKER = r"pruned by headprune: load with headprune\.load\(directory\)"


@pytest.mark.parametrize("name", ["llama", "phi"])
def test_stock_reload_of_sliced_rope_fails_naming_headprune(name, tmp_path):
    model = S.build(name)
    report = headprune.prune(model, mode="head_dims", ratio=0.5, multiple_of=1)
    assert report.stock_reload_problem and "RoPE" in report.stock_reload_problem
    model.save_pretrained(tmp_path / "stock")
    with pytest.raises((ValueError, KeyError), match=MARKER):
        type(model).from_pretrained(tmp_path / "stock")
    x = S.case(name).make_inputs()
    before = S.forward(name, model, x)  # the live model still runs on its marked config
    headprune.save(model, tmp_path / "hp")
    after = S.forward(name, headprune.load(tmp_path / "hp"), x)
    assert all(S.max_err(a, b) <= S.TOL for a, b in zip(before, after))
