"""Finding the pruner under test: entry points, module:attribute (instance, class, factory)."""
from __future__ import annotations

import sys
import types

import pytest

import headprune
from headprune import discovery


class _Pruner:
    name, version, capabilities = "t", "0", headprune.Capabilities()

    def prune(self, model, request):
        pass


@pytest.fixture
def module(monkeypatch):
    mod = types.ModuleType("fake_pruners")
    mod.INSTANCE = _Pruner()
    mod.CLASS = _Pruner
    mod.factory = lambda: _Pruner()
    mod.NOT_A_PRUNER = object()
    monkeypatch.setitem(sys.modules, "fake_pruners", mod)
    return mod


def test_the_reference_is_registered_as_an_entry_point():
    assert discovery.available()["headprune"] == "headprune.contract:reference"
    assert discovery.find("headprune") is headprune.reference


@pytest.mark.parametrize("attr", ["INSTANCE", "CLASS", "factory"])
def test_module_attribute_forms(module, attr):
    found = discovery.find(f"fake_pruners:{attr}")
    assert isinstance(found, _Pruner)
    if attr == "INSTANCE":
        assert found is module.INSTANCE


@pytest.mark.parametrize(("spec", "match"), [
    ("no-such-pruner", "no pruner named 'no-such-pruner'"),
    ("fake_pruners:MISSING", "cannot load pruner"),
    ("no_such_module_xyz:P", "cannot load pruner"),
    ("fake_pruners:NOT_A_PRUNER", "is not a pruner: it lacks"),
])
def test_bad_specs_say_why(module, spec, match):
    with pytest.raises(discovery.PrunerNotFound, match=match):
        discovery.find(spec)


def test_the_third_party_adapters_resolve_by_name_before_a_reinstall():
    assert discovery.available()["torch-pruning"] == "headprune.adapters.torch_pruning:PRUNER"
    pytest.importorskip("torch_pruning")
    assert discovery.find("torch-pruning").name == "torch-pruning"


def test_hf_prune_heads_on_transformers_5_says_it_needs_4x():
    import transformers

    if int(transformers.__version__.split(".")[0]) < 5:
        pytest.skip("transformers 4.x has prune_heads")
    with pytest.raises(discovery.PrunerNotFound, match="needs transformers 4.x"):
        discovery.find("hf-prune-heads")
