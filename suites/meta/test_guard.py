"""The suite against pruners that hang, run away, or decline: every collected test still ends with
its own verdict in the results, the run goes on, and a run that executes nothing writes nothing."""
from __future__ import annotations

import textwrap

import pytest

from suites.expectations import BadPattern, Expectation

from .test_plugin import _pytest, _rows

pytestmark = pytest.mark.meta

ODD_PRUNERS = textwrap.dedent('''
    import time
    import headprune
    from headprune.contract import Capabilities, Unsupported


    class Hanging:
        """Spins for ever in Python (like Torch-Pruning's tracer on Phi)."""
        name, version = "hanging", "0"
        capabilities = Capabilities(families=frozenset({"llama"}))

        def prune(self, model, request):
            while True:
                pass


    class SlowAndWrong:
        """Takes a while and prunes nothing: every example fails, and shrinking would call it again."""
        name, version = "slow-and-wrong", "0"
        capabilities = Capabilities(families=frozenset({"llama"}), modes=frozenset({"heads"}))

        def prune(self, model, request):
            time.sleep(0.5)


    class Declining:
        """The reference, but it declines explicit head_dims requests."""
        name, version = "declining", "0"
        capabilities = Capabilities(families=frozenset({"llama"}))

        def prune(self, model, request):
            if request.mode == "head_dims" and request.dims:
                raise Unsupported("explicit head dims are not implemented")
            assert request.example_inputs is not None and request.calibration is not None
            assert model(**request.example_inputs).logits.shape[0] == 1
            headprune.reference.prune(model, request)


    HANGING, SLOW, DECLINING = Hanging(), SlowAndWrong(), Declining()
''')


@pytest.fixture
def outside(tmp_path):
    (tmp_path / "odd_pruners.py").write_text(ODD_PRUNERS)
    return tmp_path


@pytest.mark.slow
def test_a_hanging_pruner_times_out_under_xdist_and_every_test_is_recorded(outside):
    results = outside / "r.jsonl"
    proc = _pytest(outside, "suites/conformance", "suites/properties", "--pruner", "odd_pruners:HANGING",
                   "--pruner-timeout", "1", "-n", "2", "--results", str(results),
                   "-k", "llama-heads-check_shapes or llama-heads-check_noop or llama-head_dims-check_dtype_device "
                         "or test_any_legal_head_subset_is_exact and llama and not gqa and not mqa")
    out = proc.stdout + proc.stderr
    assert proc.returncode == 1, out[-3000:]
    assert "INTERNALERROR" not in out
    rows = {r["nodeid"].split("::")[-1]: r for r in _rows(results)}
    assert len(rows) == 4, sorted(rows)
    for name, row in rows.items():
        assert row["outcome"] == "timeout", (name, row)
        assert "timed out after 1 s" in row["reason"], row
    assert "4 timeout" in out and "headprune suite summary: hanging" in out
    # hypothesis does not re-run (shrink) a hung pruner: one call, one timeout (1 s), whatever the load
    prop = next(r for name, r in rows.items() if name.startswith("test_any"))
    assert prop["duration"] < 30, prop


@pytest.mark.slow
def test_a_failing_property_spends_only_its_budget(outside):
    results = outside / "r.jsonl"
    proc = _pytest(outside, "suites/properties", "--pruner", "odd_pruners:SLOW", "--property-budget", "20",
                   "--max-examples", "50", "--results", str(results),
                   "-k", "test_any_legal_head_subset_is_exact and llama and not gqa and not mqa")
    assert proc.returncode == 1, (proc.stdout + proc.stderr)[-3000:]
    (row,) = _rows(results)
    assert row["outcome"] == "failed", row
    # Profiles do not shrink (suites/plugin.py): the first failure is reported at once, or, if the
    # budget runs out first, the budget message carries it.
    assert ("property budget of 20 s spent" in row["reason"] and "first failure seen: " in row["reason"]) \
        or "kept heads" in row["reason"], row
    assert row["duration"] < 120, row  # not minutes of shrinking


@pytest.mark.slow
def test_unsupported_is_its_own_outcome_and_pruners_get_example_inputs(outside):
    results = outside / "r.jsonl"
    proc = _pytest(outside, "suites/conformance", "--pruner", "odd_pruners:DECLINING", "--results", str(results),
                   "-k", "llama-head_dims-check_shapes or llama-head_dims-check_noop or llama-heads-check_shapes "
                         "or llama-head_dims-ratio-check_shapes")
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-3000:]
    by_id = {r["nodeid"].split("[")[-1].rstrip("]"): r for r in _rows(results)}
    assert by_id["llama-head_dims-check_shapes"]["outcome"] == "unsupported"
    assert by_id["llama-head_dims-check_shapes"]["reason"] == "unsupported: explicit head dims are not implemented"
    assert by_id["llama-head_dims-check_noop"]["outcome"] == "passed"  # the empty request is still carried out
    assert by_id["llama-heads-check_shapes"]["outcome"] == "passed"
    assert by_id["llama-head_dims-ratio-check_shapes"]["outcome"] == "passed"
    assert "1 unsupported" in out and "unsupported by check: check_shapes 1" in out


@pytest.mark.slow
@pytest.mark.parametrize("how", [("--collect-only",), ("-k", "no_test_matches_this")])
def test_a_run_that_executes_nothing_leaves_the_results_file_alone(tmp_path, how):
    results = tmp_path / "conformance.jsonl"
    results.write_text('{"kept": true}\n')
    proc = _pytest(tmp_path, "suites/conformance", "--results", str(results), *how)
    assert proc.returncode in (0, 5), (proc.stdout + proc.stderr)[-2000:]
    assert results.read_text() == '{"kept": true}\n'
    assert sorted(p.name for p in tmp_path.iterdir()) == ["conformance.jsonl"]  # no temporary left behind


FIELDS = {"id": "phi3-gqa-head_dims-ratio-check_generate", "case": "phi3-gqa", "family": "phi3",
          "scenario": "head_dims-ratio", "mode": "head_dims", "check": "check_generate"}


@pytest.mark.parametrize(("pattern", "hit"), [
    ("phi3-gqa-head_dims-ratio-check_generate", True),      # an exact id (the old form)
    ("phi3*-check_generate", True),                          # a glob over the id
    ("check_generate", True),                                # a check name
    ("check_shapes", False),
    ("family=phi3 scenario=head_dims* check=check_generate", True),
    ("family=phi3 scenario=heads* check=check_generate", False),
    ("case=phi3 check=check_generate", False),               # case is the zoo case, not the family
    ("mode=head_dims", True),
])
def test_expectation_patterns(pattern, hit):
    assert Expectation(pattern, "why", "test").matches(FIELDS) is hit


def test_a_malformed_field_pattern_is_refused_when_declared():
    with pytest.raises(BadPattern, match="colour=red"):
        Expectation("family=phi3 colour=red", "why", "test")
