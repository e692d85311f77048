"""Hypothesis properties of the pruner under test, over head subsets and inputs.

Model builds are cached (``models.build`` deep-copies a per-process prototype); only the
subsets and inputs are drawn per example. Budget: the active profile (dev / ci / nightly)
or ``--max-examples``.
"""
from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

import models
from headprune.contract import PruneRequest
from suites.checks import CHECKS, Trial
from suites.checks.base import compare, logits
from suites.checks.lifecycle import refused_untouched
from suites.checks.oracle import survivors_oracle
from suites.runner import unsupported
from suites.scenarios import Scenario, inexact_by_design

from . import strategies

pytestmark = pytest.mark.property

CASES = models.case_names()
STRUCTURE_CHECKS = ("check_shapes", "check_gqa_pairing", "check_request_honoured", "check_attribute_sync")


def _require(pruner, case, mode):
    if (why := case.refusal(mode) or unsupported(pruner, case, Scenario(mode, "explicit"))):
        pytest.skip(why)


def _draw_inputs(data, case) -> tuple[dict, str]:
    draw_inputs = data.draw(strategies.inputs(case), label="inputs")
    return draw_inputs, data.draw(st.sampled_from(models.available_backends(case)), label="backend")


def _exact_on(trial: Trial, draw_inputs: dict, backend: str) -> None:
    for name in STRUCTURE_CHECKS:
        CHECKS[name](trial)
    if trial.inexact_reason:
        return
    case = trial.case
    oracle = survivors_oracle(trial.original, trial.survivors)
    models.set_attention_backend(oracle, backend)
    batch = case.make_inputs(**draw_inputs)
    compare(case, logits(case, trial.fresh(backend), batch), logits(case, oracle, batch), batch, atol=1e-5,
            what=f"{backend} forward on {draw_inputs}")


@pytest.mark.property(mode="heads")
@pytest.mark.parametrize("case_name", CASES)
@given(data=st.data())
def test_any_legal_head_subset_is_exact(case_name, pruner, data):
    case = models.get_case(case_name)
    _require(pruner, case, "heads")
    removal = data.draw(strategies.head_removals(case), label="heads")
    draw_inputs, backend = _draw_inputs(data, case)
    trial = Trial(case, pruner, PruneRequest(mode="heads", heads=removal))
    _exact_on(trial, draw_inputs, backend)


@pytest.mark.property(mode="head_dims")
@pytest.mark.parametrize("case_name", CASES)
@given(data=st.data())
def test_any_legal_dim_subset_is_exact(case_name, pruner, data):
    case = models.get_case(case_name)
    _require(pruner, case, "head_dims")
    removal = data.draw(strategies.dim_removals(case), label="dims")
    draw_inputs, backend = _draw_inputs(data, case)
    inexact = inexact_by_design(case, "head_dims")
    trial = Trial(case, pruner, PruneRequest(mode="head_dims", dims=removal, allow_inexact=inexact is not None),
                  inexact_reason=inexact)
    _exact_on(trial, draw_inputs, backend)


GQA_CASES = [c.name for c in models.cases() if any(h > kv > 1 for h, kv in zip(c.num_heads, c.num_kv_heads))]


@pytest.mark.property(mode="heads")
@pytest.mark.parametrize("case_name", GQA_CASES)
@given(data=st.data())
def test_unequal_gqa_split_is_refused_untouched(case_name, pruner, data):
    case = models.get_case(case_name)
    _require(pruner, case, "heads")
    if not pruner.capabilities.validates_requests:
        pytest.skip(f"{pruner.name} does not claim to validate requests")
    removal = data.draw(strategies.unequal_gqa_split(case), label="heads")
    refused_untouched(pruner, models.build(case), PruneRequest(mode="heads", heads=removal),
                      f"unequal GQA split {removal}", case)
