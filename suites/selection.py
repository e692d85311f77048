"""Exact case selection and where Hypothesis keeps its examples: a small pytest plugin.

``-k phi`` also selects ``phi3``; ``--case phi`` selects exactly the zoo case ``phi`` (repeat the
option or separate names with commas), ``--family llama`` every case of that family. Suite tests
(``case_name``) and meta tests (``case``) are filtered alike; other tests are left alone.
Parametrization is untouched (sorted, deterministic, xdist-safe); unselected tests are deselected.

Hypothesis keeps no example database unless ``--hypothesis-db DIR`` names one (the profiles set
``database=None``), and its other files (a cache of constants) go under the user's cache
directory, or DIR when given: no ``.hypothesis/`` appears in the working tree.
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest
from hypothesis import Phase, settings
from hypothesis.configuration import set_hypothesis_home_dir
from hypothesis.database import DirectoryBasedExampleDatabase

import models


def _names(values) -> set[str]:
    return {n.strip() for v in values or () for n in v.split(",") if n.strip()}


def pytest_addoption(parser):
    group = parser.getgroup("headprune", "headprune conformance suite")
    group.addoption("--case", action="append", default=[], metavar="NAME",
                    help="run only these zoo cases, matched exactly (repeatable, or comma-separated)")
    group.addoption("--family", action="append", default=[], metavar="NAME",
                    help="run only the zoo cases of these families, matched exactly (repeatable, or comma-separated)")
    group.addoption("--hypothesis-db", default=None, metavar="DIR",
                    help="keep Hypothesis' example database in DIR (default: none is written)")
    group.addoption("--shrink", action="store_true",
                    help="let Hypothesis shrink failing examples (off by default: a broken pruner would "
                         "spend minutes shrinking)")


@pytest.hookimpl(trylast=True)
def pytest_configure(config):
    cases, families = _names(config.getoption("--case")), _names(config.getoption("--family"))
    known = set(models.case_names())
    if unknown := sorted(cases - known):
        raise pytest.UsageError(f"--case: unknown zoo cases {unknown}; known: {', '.join(sorted(known))}")
    all_families = {c.family for c in models.cases()}
    if unknown := sorted(families - all_families):
        raise pytest.UsageError(f"--family: unknown families {unknown}; known: {', '.join(sorted(all_families))}")
    changes = {}
    db = config.getoption("--hypothesis-db")
    cache = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "headprune" / "hypothesis"
    set_hypothesis_home_dir(Path(db) if db else cache)
    if db is not None:
        changes["database"] = DirectoryBasedExampleDatabase(Path(db) / "examples")
    if config.getoption("--shrink"):
        changes["phases"] = tuple(Phase)
    if changes:
        settings.register_profile("headprune-options", settings(settings.default, **changes))
        settings.load_profile("headprune-options")


def selected(case_name: str, cases: set[str], families: set[str]) -> bool:
    if cases and case_name not in cases:
        return False
    return not families or models.get_case(case_name).family in families


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config, items):
    cases, families = _names(config.getoption("--case")), _names(config.getoption("--family"))
    if not cases and not families:
        return
    keep, drop = [], []
    for item in items:
        params = getattr(getattr(item, "callspec", None), "params", {})
        name = params.get("case_name", params.get("case"))
        (keep if not isinstance(name, str) or selected(name, cases, families) else drop).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep
