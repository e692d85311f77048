"""The conformance matrix: every zoo case x scenario x applicable check, for the pruner under test."""
from __future__ import annotations

import pytest

import models
from suites.checks import CHECKS, CheckFailure, CheckSkipped
from suites.runner import matrix, run_check, trial, unsupported
from suites.scenarios import scenario_by_id

pytestmark = pytest.mark.conformance


@pytest.mark.parametrize(("case_name", "scenario_id", "check_name"),
                         [pytest.param(*row, id="-".join(row)) for row in matrix()])
def test_conformance(case_name, scenario_id, check_name, pruner, request):
    case = models.get_case(case_name)
    if (why := unsupported(pruner, case, scenario_by_id(case, scenario_id))):
        pytest.skip(why)
    t = trial(pruner, case_name, scenario_id)
    for need in sorted(CHECKS[check_name].needs):
        if (why := t.unmet(need)):
            pytest.skip(why)
    try:
        run_check(pruner, case_name, scenario_id, check_name, pruner_spec=request.config.getoption("--pruner"))
        failure = None
    except CheckFailure as exc:
        failure = f"{check_name} failed: {exc}"
    except CheckSkipped as exc:
        pytest.skip(str(exc))
    if failure:
        pytest.fail(failure, pytrace=False)  # the message says it all, and its repro reruns it
