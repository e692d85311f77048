"""The pytest plugin behind ``pytest suites/ --pruner NAME``.

Options, markers, hypothesis profiles, the pruner under test, expected failures, the run
header and the JSON-lines results sink all live here; the checks themselves never import
pytest. Loaded from the repository's root ``conftest.py``.
"""
from __future__ import annotations

import os
import re
import warnings
from collections import Counter
from pathlib import Path

import pytest
from hypothesis import HealthCheck, Phase, settings

from headprune import discovery
from headprune.contract import Unsupported

from . import expectations
from .checks import guard
from .results import OUTCOMES, UNSUPPORTED_PREFIX, ResultsSink, package_versions

MARKERS = {
    "conformance": "a conformance check of the pruner under test (case x scenario x check)",
    "property": "a hypothesis property test of the pruner under test",
    "meta": "proves the suite itself (mutant pruners, plugin behaviour)",
    "slow": "longer than a few seconds; deselect with -m 'not slow'",
    "benchmark": "speed/memory measurement; runs only when -m selects it",
    "gpu": "needs a CUDA device; runs only when -m selects it",
}

PRUNER_ENV = "HEADPRUNE_PRUNER"
DEFAULT_RESULTS = "results/conformance.jsonl"

# No example database unless --hypothesis-db (suites/selection.py); one bug reported, not shrunk
# (--shrink turns shrinking on): a broken pruner fails in seconds, not minutes of shrinking.
_COMMON = dict(deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
               print_blob=True, database=None, report_multiple_bugs=False)
_NO_SHRINK = (Phase.explicit, Phase.reuse, Phase.generate)
settings.register_profile("dev", max_examples=20, phases=_NO_SHRINK, **_COMMON)
settings.register_profile("ci", max_examples=6, derandomize=True, phases=_NO_SHRINK, **_COMMON)
settings.register_profile("nightly", max_examples=300, **_COMMON)
settings.load_profile("ci" if os.environ.get("CI") else "dev")

PRUNER_KEY = pytest.StashKey[object]()
EXPECT_KEY = pytest.StashKey[list]()
SINK_KEY = pytest.StashKey[ResultsSink]()


def pytest_addoption(parser):
    group = parser.getgroup("headprune", "headprune conformance suite")
    group.addoption("--pruner", default=os.environ.get(PRUNER_ENV, "headprune"),
                    help=f"pruner under test: an entry-point name in '{discovery.ENTRY_POINT_GROUP}' or "
                         f"module:attribute (default: ${PRUNER_ENV} or 'headprune')")
    group.addoption("--max-examples", type=int, default=None,
                    help="hypothesis examples per property test (overrides the profile)")
    group.addoption("--results", default=DEFAULT_RESULTS,
                    help=f"JSON-lines results file ('' to disable; default {DEFAULT_RESULTS})")
    group.addoption("--xfails-file", default=None,
                    help="file of expected failures: one 'pattern  # reason' per line (see suites/expectations.py)")
    group.addoption("--pruner-timeout", type=float, default=guard.DEFAULT_TIMEOUT_S,
                    help="seconds a single pruner call (prune/save/load) may take before its test fails "
                         f"with 'timed out after N s' (0: no limit; default {guard.DEFAULT_TIMEOUT_S:g})")
    group.addoption("--property-budget", type=float, default=guard.DEFAULT_PROPERTY_BUDGET_S,
                    help="seconds of pruner calls one property test may spend, shrinking included "
                         f"(0: no limit; default {guard.DEFAULT_PROPERTY_BUDGET_S:g})")


def pytest_configure(config):
    if os.environ.get("PYTEST_XDIST_WORKER"):
        import torch

        torch.set_num_threads(1)  # tiny models: extra threads only fight the other worker for cores
    for name, text in MARKERS.items():
        config.addinivalue_line("markers", f"{name}: {text}")
    try:
        pruner = discovery.find(config.getoption("--pruner"))
    except discovery.PrunerNotFound as exc:
        raise pytest.UsageError(str(exc)) from None
    config.stash[PRUNER_KEY] = pruner
    guard.timeout_s = config.getoption("--pruner-timeout")
    try:
        expected = expectations.from_pruner(pruner)
        if config.getoption("--xfails-file"):
            expected += expectations.from_file(config.getoption("--xfails-file"))
    except expectations.BadPattern as exc:
        raise pytest.UsageError(str(exc)) from None
    config.stash[EXPECT_KEY] = expected
    if (n := config.getoption("--max-examples")) is not None:
        settings.register_profile("cli", settings(settings.default, max_examples=n))
        settings.load_profile("cli")
    if not hasattr(config, "workerinput"):  # the xdist controller (or a serial run) collects the rows
        results = config.getoption("--results")
        config.stash[SINK_KEY] = ResultsSink(Path(results) if results else None, pruner.name, str(pruner.version),
                                             pruner_spec=config.getoption("--pruner"), describe=describe_nodeid)


def pytest_unconfigure(config):
    sink = config.stash.get(SINK_KEY, None)
    if sink is not None:
        sink.close()


def pytest_report_header(config):
    pruner = config.stash[PRUNER_KEY]
    caps = pruner.capabilities
    versions = ", ".join(f"{k} {v}" for k, v in package_versions().items())
    return [f"headprune suite: pruner {pruner.name} {pruner.version} ({config.getoption('--pruner')})",
            f"  capabilities: modes={sorted(caps.modes)} families={'all' if caps.families is None else len(caps.families)} explicit={caps.explicit} "
            f"ratio={caps.ratio} gqa={sorted(caps.gqa_strategies)} save_load={caps.save_load} "
            f"validates_requests={caps.validates_requests}",
            f"  {versions}; hypothesis profile {settings._current_profile}"]


def _describe(item) -> dict | None:
    """case/family/mode/scenario/check of a suite test, from its parameters (None: not a suite test)."""
    params = getattr(getattr(item, "callspec", None), "params", {})
    if "case_name" not in params:
        return None
    import models

    case = models.get_case(params["case_name"])
    scenario = params.get("scenario_id", "")
    check_name = params.get("check_name") or item.originalname
    test_id = item.callspec.id if "check_name" in params else f"{case.name}-{check_name}"
    marker = item.get_closest_marker("property")
    mode = scenario.split("-")[0] if scenario else (marker.kwargs.get("mode") if marker else None)
    return {"case": case.name, "family": case.family, "scenario": scenario, "mode": mode, "check": check_name,
            "test_id": test_id}


def describe_nodeid(nodeid: str) -> dict | None:
    """case/family/scenario/check from a suite test's node id alone (for an xdist worker crash,
    whose report carries no properties); None if it is not a suite test."""
    import models

    from .runner import matrix

    name, _, param = nodeid.partition("[")
    param = param.rstrip("]")
    func = name.rsplit("::", 1)[-1]
    if func == "test_conformance":
        for case_name, scenario, check_name in matrix():
            if "-".join((case_name, scenario, check_name)) == param:
                case = models.get_case(case_name)
                return {"case": case_name, "family": case.family, "scenario": scenario,
                        "mode": scenario.split("-")[0], "check": check_name}
    elif "suites/properties/" in name and param in models.case_names():
        return {"case": param, "family": models.get_case(param).family, "scenario": "", "mode": None,
                "check": func}
    return None


ON_REQUEST = ("benchmark", "gpu")  # markers that run only when -m asks for them


def _deselect_on_request(config, items) -> None:
    """Benchmark and GPU tests run only when ``-m`` names their marker: ``-m "not meta"`` (what
    the release environments pass) must not start a minutes-long benchmark."""
    named = set(re.findall(r"[A-Za-z_]\w*", config.getoption("markexpr") or ""))
    chosen = [i for i in items if not any(i.get_closest_marker(m) and m not in named for m in ON_REQUEST)]
    if len(chosen) != len(items):
        config.hook.pytest_deselected(items=[i for i in items if i not in chosen])
        items[:] = chosen


def pytest_collection_modifyitems(config, items):
    _deselect_on_request(config, items)
    expected = config.stash[EXPECT_KEY]
    used = set()
    pruner = config.stash[PRUNER_KEY]
    if pruner.name != "headprune":  # meta tests prove the suite with the reference and its mutants
        skip_meta = pytest.mark.skip(reason=f"meta tests prove the suite itself, not {pruner.name}")
        for item in items:
            if item.get_closest_marker("meta"):
                item.add_marker(skip_meta)
    for item in items:
        meta = _describe(item)
        if meta is None:
            continue
        fields = dict(meta, id=meta.pop("test_id"))
        item.user_properties.extend(meta.items())
        exp = expectations.first_match(expected, fields)
        if exp is None:
            continue
        used.add(exp)
        reason = f"expected failure ({exp.source}): {exp.reason}"
        if item.get_closest_marker("property"):
            item.add_marker(pytest.mark.skip(reason=reason))  # hypothesis failures are not deterministic
        else:
            item.add_marker(pytest.mark.xfail(reason=reason, strict=True))
    for exp in expected:
        if exp not in used:
            warnings.warn(pytest.PytestWarning(
                f"expected failure {exp.pattern!r} ({exp.source}) matches no collected test"), stacklevel=1)


def pytest_sessionstart(session):
    sink = session.config.stash.get(SINK_KEY, None)
    if sink is not None:
        session.config.pluginmanager.register(_SinkPlugin(sink), "headprune-results")


class _SinkPlugin:
    def __init__(self, sink: ResultsSink):
        self.sink = sink

    def pytest_runtest_logreport(self, report):
        self.sink.record(report)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_call(item):
    """A pruner's ``Unsupported`` answer becomes a skip ("unsupported: ..."); property tests run
    under their time budget (see suites/checks/guard.py)."""
    budget = item.config.getoption("--property-budget") if item.get_closest_marker("property") else 0
    try:
        with guard.property_budget(budget):
            return (yield)
    except Unsupported as exc:
        pytest.skip(f"{UNSUPPORTED_PREFIX}{exc}")


def pytest_terminal_summary(terminalreporter, exitstatus, config):
    """Counts per outcome, and failures per check, of the pruner's results in this run."""
    sink = config.stash.get(SINK_KEY, None)
    if sink is None or not sink.rows:
        return
    pruner = config.stash[PRUNER_KEY]
    counts = sink.counts()
    tr = terminalreporter
    tr.write_sep("=", f"headprune suite summary: {pruner.name} {pruner.version}")
    tr.write_line(f"{len(sink.rows)} results: " + ", ".join(f"{counts[o]} {o}" for o in OUTCOMES if counts[o]))
    for outcome in ("failed", "timeout", "error", "unsupported"):
        by_check = Counter(r["check"] for r in sink.rows if r["outcome"] == outcome)
        if by_check:
            tr.write_line(f"  {outcome} by check: " + ", ".join(f"{c} {n}" for c, n in by_check.most_common()))
    if sink.path is not None:
        tr.write_line(f"results: {sink.path}  (HTML: python -m reports.conformance {sink.path})")


@pytest.fixture(scope="session")
def pruner(request):
    """The pruner under test (``--pruner``)."""
    return request.config.stash[PRUNER_KEY]
