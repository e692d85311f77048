"""Prove the conformance suite: every mutant is caught where it says, the reference is not.

For each mutant, each ``(case, scenario)`` in its ``where`` and each check in its ``caught_by``,
the Trial is built and the check run exactly as the conformance suite does (``suites.runner``),
and the check must raise CheckFailure: a crash with any other exception does not count, a
check must *fail*, not error out. The reference pruner runs through the same checks on the same
cases and scenarios and must pass all of them. Known holes (``Mutant.gaps``) run as strict
xfails, so closing one is noticed.

Parameters are named ``case``/``scenario``/``check`` (not ``case_name``/``check_name``) on purpose:
the plugin applies the ``--pruner``'s expected failures to tests with those names, and these tests
do not depend on ``--pruner``.
"""
from __future__ import annotations

import warnings

import pytest

import headprune
import models
from models import registry
from headprune.contract import Pruner
from suites import runner
from suites.checks import CHECKS, CheckFailure
from suites.meta import mutants
from suites.meta.mutants import MUTANTS, by_name
from suites.scenarios import scenario_by_id

pytestmark = pytest.mark.meta

REFERENCE = "reference"


def _pruner(name: str):
    return headprune.reference if name == REFERENCE else getattr(mutants, name)  # stable: runner caches by id


def run_check(pruner_name: str, case: str, scenario: str, check: str) -> None:
    """One check on the (cached) trial, refusing combinations the suite itself would skip."""
    warnings.filterwarnings("ignore")
    pruner = _pruner(pruner_name)
    case_obj = models.get_case(case)
    why = runner.unsupported(pruner, case_obj, scenario_by_id(case_obj, scenario))
    assert why is None, f"the suite would skip {pruner_name} on {case}/{scenario}: {why}"
    t = runner.trial(pruner, case, scenario)
    unmet = [why for why in map(t.unmet, sorted(CHECKS[check].needs)) if why]
    assert not unmet, f"the suite would skip {check} for {pruner_name} on {case}/{scenario}: {unmet}"
    runner.run_check(pruner, case, scenario, check, pruner_spec=f"suites.meta.mutants:{pruner_name}")


def _gap(cls, case, scenario, check) -> str | None:
    return cls.gaps.get((case, scenario, check))


def _clean(cls, case, scenario) -> list[str]:
    """The checks that must fail cleanly on this entry (caught_by minus known gaps)."""
    return sorted(k for k in cls.caught_by if not _gap(cls, case, scenario, k))


def _where(cls) -> list[tuple[str, str]]:
    """The mutant's ``where`` entries whose case this release can build (transformers 4.57
    cannot build StableLM with per-head q/k norms: ``registry._TRANSFORMERS_5_ONLY``)."""
    here = set(models.case_names())
    return [(c, s) for c, s in cls.where if c in here]


def _xfail(reason: str):
    return [pytest.mark.xfail(strict=True, reason=f"suite gap: {reason}")]


def _mutant_params():
    out = []
    for name, cls in MUTANTS.items():
        for case, scenario in _where(cls):
            for check in cls.caught_by:
                gap = _gap(cls, case, scenario, check)
                out.append(pytest.param(name, case, scenario, check, marks=_xfail(gap) if gap else [],
                                        id=f"{name}-{case}-{scenario}-{check}"))
    return sorted(out, key=lambda p: p.id)


def _reference_params():
    seen = {(c, s, k) for cls in MUTANTS.values() for c, s in _where(cls) for k in cls.caught_by}
    return [pytest.param(c, s, k, id=f"{c}-{s}-{k}") for c, s, k in sorted(seen)]


def _where_params():
    out = []
    for name, cls in MUTANTS.items():
        for c, s in sorted(_where(cls)):
            marks = [] if _clean(cls, c, s) else _xfail("; ".join(sorted({_gap(cls, c, s, k) for k in cls.caught_by})))
            out.append(pytest.param(name, c, s, marks=marks, id=f"{name}-{c}-{s}"))
    return out


@pytest.mark.parametrize(("mutant", "case", "scenario", "check"), _mutant_params())
def test_mutant_is_caught(mutant, case, scenario, check):
    with pytest.raises(CheckFailure):
        run_check(mutant, case, scenario, check)


@pytest.mark.parametrize(("case", "scenario", "check"), _reference_params())
def test_reference_passes(case, scenario, check):
    run_check(REFERENCE, case, scenario, check)


@pytest.mark.parametrize(("mutant", "case", "scenario"), _where_params())
def test_every_where_entry_is_caught(mutant, case, scenario):
    """Each place a mutant is shown has at least one check that is not a known gap there. Every
    such check is run by test_mutant_is_caught and must raise CheckFailure, so together they prove
    the mutant is caught on every ``where`` entry. An entry where every check is a gap is a strict xfail."""
    cls = MUTANTS[mutant]
    assert _clean(cls, case, scenario), f"{mutant} on {case}/{scenario}: no check catches it cleanly ({cls.gaps})"


def test_every_mutant_is_caught_somewhere():
    for name, cls in MUTANTS.items():
        assert any(_clean(cls, c, s) for c, s in _where(cls)), f"{name} is caught cleanly nowhere"


def test_every_check_is_proven():
    """Each registered check fails cleanly (not as a known gap) on at least one mutant somewhere."""
    proven = {k for cls in MUTANTS.values() for c, s in _where(cls) for k in _clean(cls, c, s)}
    assert not set(CHECKS) - proven, f"checks no mutant proves: {sorted(set(CHECKS) - proven)}"


def test_registry():
    assert len(MUTANTS) >= 14
    assert list(MUTANTS) == sorted(MUTANTS)
    for name, cls in MUTANTS.items():
        assert cls.name == name and name.isidentifier()
        assert cls.__doc__ and cls.__doc__.strip(), f"{name}: the docstring names the real-world trap"
        assert cls.trap and "\n" not in cls.trap
        assert cls.caught_by and cls.caught_by <= set(CHECKS), f"{name}: unknown checks {cls.caught_by - set(CHECKS)}"
        assert cls.where and len(set(cls.where)) == len(cls.where)
        for case, scenario in cls.where:
            if (case, scenario) not in _where(cls):
                assert case in registry._TRANSFORMERS_5_ONLY, f"{name}: unknown case {case!r}"
                continue
            scenario_by_id(models.get_case(case), scenario)  # raises if either is unknown
        for key in cls.gaps:
            assert (key[0], key[1]) in cls.where and key[2] in cls.caught_by, f"{name}: gap {key} is not shown"
        inst = getattr(mutants, name)
        assert isinstance(inst, cls) and isinstance(inst, Pruner)
        assert isinstance(by_name(name), cls)
    with pytest.raises(KeyError):
        by_name("no_such_mutant")
