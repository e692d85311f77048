"""Prove the conformance suite: every mutant is caught where it says, the reference is not.

For each mutant, each ``(case, scenario)`` in its ``where`` and each check in its ``caught_by``,
the Trial is built as the conformance suite builds it and the check must raise CheckFailure
(a crash with another exception does not count: a check must *fail*, not error out). The
reference pruner runs through the same checks on the same trials and must pass all of them.
Known holes (``Mutant.gaps``) run as strict xfails, so closing one is noticed.
"""
from __future__ import annotations

import functools
import warnings

import pytest

import headprune
import models
import suites.checks.nonzero_init  # noqa: F401  registers check_exact_nonzero_init (see its module)
from headprune.contract import Pruner
from suites.checks import CHECKS, CheckFailure, Trial
from suites.meta import mutants
from suites.meta.mutants import MUTANTS, by_name
from suites.scenarios import inexact_by_design, request_for, scenario_by_id

REFERENCE = "reference"


@functools.lru_cache(maxsize=None)
def trial(pruner: str, case_name: str, scenario_id: str) -> Trial:
    """The Trial the conformance suite runs for this pruner, case and scenario (shared by checks)."""
    warnings.filterwarnings("ignore")
    case = models.get_case(case_name)
    scenario = scenario_by_id(case, scenario_id)
    obj = headprune.reference if pruner == REFERENCE else by_name(pruner)
    return Trial(case, obj, request_for(case, scenario), scenario.id, inexact_by_design(case, scenario.mode))


def run_check(pruner: str, case_name: str, scenario_id: str, check: str) -> None:
    t = trial(pruner, case_name, scenario_id)
    assert t.pruner.capabilities.supports(t.case.family, t.request.mode), \
        f"{pruner} does not claim {t.case.family}/{t.request.mode}: the suite would skip it"
    unmet = [why for why in map(t.unmet, CHECKS[check].needs) if why]
    assert not unmet, f"{check} does not apply to {pruner} on {case_name}/{scenario_id}: {unmet}"
    CHECKS[check](t)


def _gap(cls, case_name, scenario_id, check):
    return cls.gaps.get((case_name, scenario_id, check))


def _mutant_params():
    out = []
    for name, cls in MUTANTS.items():
        for case_name, scenario_id in cls.where:
            for check in sorted(cls.caught_by):
                gap = _gap(cls, case_name, scenario_id, check)
                marks = [pytest.mark.xfail(strict=True, reason=f"suite gap: {gap}")] if gap else []
                out.append(pytest.param(name, case_name, scenario_id, check, marks=marks,
                                        id=f"{name}-{case_name}-{scenario_id}-{check}"))
    return sorted(out, key=lambda p: p.id)


def _reference_params():
    seen = {(c, s, k) for cls in MUTANTS.values() for c, s in cls.where for k in cls.caught_by}
    return [pytest.param(c, s, k, id=f"{c}-{s}-{k}") for c, s, k in sorted(seen)]


def _clean(cls, case_name, scenario_id) -> list[str]:
    return sorted(k for k in cls.caught_by if not _gap(cls, case_name, scenario_id, k))


def _where_params():
    out = []
    for name, cls in MUTANTS.items():
        for c, s in sorted(cls.where):
            marks = []
            if not _clean(cls, c, s):
                reasons = sorted({_gap(cls, c, s, k) for k in cls.caught_by})
                marks = [pytest.mark.xfail(strict=True, reason=f"suite gap: {'; '.join(reasons)}")]
            out.append(pytest.param(name, c, s, marks=marks, id=f"{name}-{c}-{s}"))
    return out


@pytest.mark.parametrize(("mutant", "case_name", "scenario_id", "check"), _mutant_params())
def test_mutant_is_caught(mutant, case_name, scenario_id, check):
    with pytest.raises(CheckFailure):
        run_check(mutant, case_name, scenario_id, check)


@pytest.mark.parametrize(("case_name", "scenario_id", "check"), _reference_params())
def test_reference_passes(case_name, scenario_id, check):
    run_check(REFERENCE, case_name, scenario_id, check)


@pytest.mark.parametrize(("mutant", "case_name", "scenario_id"), _where_params())
def test_every_where_entry_is_caught(mutant, case_name, scenario_id):
    """Each place a mutant is shown has at least one check that is not a known gap there; every
    such check is run by test_mutant_is_caught and must raise CheckFailure, so together they prove
    the mutant is caught on every ``where`` entry. An entry where every check is a gap is a strict xfail."""
    cls = MUTANTS[mutant]
    assert _clean(cls, case_name, scenario_id), \
        f"{mutant} on {case_name}/{scenario_id}: no check catches it cleanly (gaps: {dict(cls.gaps)})"


def test_every_mutant_is_caught_somewhere():
    for name, cls in MUTANTS.items():
        assert any(_clean(cls, c, s) for c, s in cls.where), f"{name} is caught cleanly nowhere"


def test_every_check_is_proven():
    """Each registered check fails cleanly on at least one mutant somewhere."""
    proven = {k for cls in MUTANTS.values() for c, s in cls.where for k in cls.caught_by
              if not _gap(cls, c, s, k)}
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
        for case_name, scenario_id in cls.where:
            scenario_by_id(models.get_case(case_name), scenario_id)  # raises if either is unknown
        for key in cls.gaps:
            assert (key[0], key[1]) in cls.where and key[2] in cls.caught_by, f"{name}: gap {key} is not shown"
        inst = getattr(mutants, name)
        assert isinstance(inst, cls) and isinstance(inst, Pruner)
        assert isinstance(by_name(name), cls)
    with pytest.raises(KeyError):
        by_name("no_such_mutant")
