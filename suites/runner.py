"""Turning (pruner, case, scenario, check) into a verdict: shared by pytest, repro and meta tests."""
from __future__ import annotations

import shlex

import models

from .checks import CHECKS, CheckFailure, Trial, base
from .checks.base import PRUNER_NEEDS
from .scenarios import LEAN_CHECKS, Scenario, inexact_by_design, request_for, scenario_by_id, scenarios_for

_TRIALS: dict[tuple, Trial] = {}
_ORIGINALS: dict[str, object] = {}  # one unpruned model per case, shared by its trials (never mutated)


def unsupported(pruner, case: models.Case, scenario: Scenario) -> str | None:
    """Why the pruner's declared capabilities exclude this combination (None: included)."""
    caps = pruner.capabilities
    if not caps.supports_family(case.family):
        return f"{pruner.name} does not support family {case.family!r}"
    if scenario.mode not in caps.modes:
        return f"{pruner.name} does not support mode {scenario.mode!r}"
    if scenario.explicit and not caps.explicit:
        return f"{pruner.name} is ratio-only"
    if not scenario.explicit and not caps.ratio:
        return f"{pruner.name} does not choose heads itself (no ratio)"
    if not scenario.explicit and scenario.mode == "heads" and "gqa" in case.tags \
            and scenario.gqa not in caps.gqa_strategies:
        return f"{pruner.name} does not support GQA strategy {scenario.gqa!r}"
    if scenario.mode == "head_dims" and "rope" in case.tags and not caps.head_dims_rope:
        return f"{pruner.name} does not support head_dims on RoPE models"
    return None


def static_unmet(case: models.Case, scenario: Scenario, check_name: str) -> str | None:
    """Why a check cannot apply to this case and scenario, whatever the pruner."""
    request, inexact = request_for(case, scenario), inexact_by_design(case, scenario.mode)
    for need in sorted(CHECKS[check_name].needs - PRUNER_NEEDS.keys()):
        if (why := base.static_unmet(need, case, request, inexact)) is not None:
            return why
    return None


def matrix() -> list[tuple[str, str, str]]:
    """Every applicable (case, scenario, check), sorted: the conformance test ids."""
    out = []
    for case in models.cases():
        for scenario in scenarios_for(case):
            for check_name in sorted(CHECKS):
                if scenario.lean and check_name not in LEAN_CHECKS:
                    continue  # extra ratios: only the checks that judge the ratio
                if static_unmet(case, scenario, check_name) is None:
                    out.append((case.name, scenario.id, check_name))
    return out


def trial(pruner, case_name: str, scenario_id: str) -> Trial:
    """The (per-process cached) pruner run for this case and scenario."""
    key = (id(pruner), case_name, scenario_id)
    if key not in _TRIALS:
        case = models.get_case(case_name)
        scenario = scenario_by_id(case, scenario_id)
        if case_name not in _ORIGINALS:
            _ORIGINALS[case_name] = models.build(case, "eager")
        _TRIALS[key] = Trial(case, pruner, request_for(case, scenario), scenario_id,
                             inexact_by_design(case, scenario.mode), _ORIGINALS[case_name])
    return _TRIALS[key]


def repro_command(pruner_spec: str, case_name: str, scenario_id: str, check_name: str) -> str:
    return "python -m suites.repro " + " ".join(
        shlex.quote(a) for a in ("--pruner", pruner_spec, case_name, scenario_id, check_name))


def run_check(pruner, case_name: str, scenario_id: str, check_name: str, *, pruner_spec: str = "") -> None:
    """Run one check; a failure message ends with the request sent (and how the pruner changed its
    copy, if it did) and a copy-paste repro. A check whose root cause another check reports raises
    CheckSkipped."""
    t = trial(pruner, case_name, scenario_id)
    try:
        CHECKS[check_name](t)
    except CheckFailure as exc:
        spec = pruner_spec or getattr(pruner, "name", "?")
        changed = f"\n  note:    {t.request_problem}" if t.request_problem else ""
        raise CheckFailure(f"{exc}\n  request: {t.request.describe()}{changed}\n"
                           f"  repro:   {repro_command(spec, case_name, scenario_id, check_name)}") from None
