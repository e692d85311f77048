"""One JSON line per test: the raw material of reports/.

Row schema (stable: readers may rely on these keys; new keys are only ever added):
``pruner``, ``pruner_version``, ``case``, ``family``, ``mode``, ``scenario``, ``check``,
``outcome``, ``reason``, ``duration`` (s), ``nodeid``, ``versions`` (package -> version), ``time``,
``pruner_spec`` (what ``--pruner`` was given, for repro commands).

``outcome`` is one of ``passed``, ``failed``, ``skipped``, ``xfailed``, ``xpassed``, ``error``
(setup/teardown failed, or the xdist worker running it crashed), ``unsupported`` (the pruner
raised ``headprune.contract.Unsupported``: skipped with reason "unsupported: ...") and
``timeout`` (a pruner call did not return in time, or a property test spent its budget
before any check failed; pytest counts it failed).

The file is written only by a run that records at least one row: rows go to a temporary file
beside it, which replaces the file at the end of the run. A run that executes nothing
(``--collect-only``, ``-k nomatch``) leaves an existing file untouched.
"""
from __future__ import annotations

import json
import os
import platform
import time
from collections import Counter
from importlib.metadata import PackageNotFoundError, version
from pathlib import Path

RESULTS_FIELDS = ("pruner", "pruner_version", "case", "family", "mode", "scenario", "check", "outcome",
                  "reason", "duration", "nodeid", "versions", "time", "pruner_spec")
OUTCOMES = ("passed", "failed", "timeout", "error", "unsupported", "skipped", "xfailed", "xpassed")
UNSUPPORTED_PREFIX = "unsupported: "


def package_versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for pkg in ("torch", "transformers", "timm", "hypothesis"):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            out[pkg] = "absent"
    return out


def _timed_out(reason: str) -> bool:
    return "PrunerTimeout" in reason or ("BudgetExhausted" in reason and "no check had failed" in reason)


def outcome_of(report) -> str:
    if hasattr(report, "wasxfail"):
        return "xfailed" if report.skipped else "xpassed"
    if report.when != "call" and report.failed:
        return "error"
    if report.skipped and reason_of(report).startswith(UNSUPPORTED_PREFIX):
        return "unsupported"
    if report.failed and _timed_out(reason_of(report)):
        return "timeout"
    return report.outcome


def reason_of(report) -> str:
    if hasattr(report, "wasxfail"):
        return str(report.wasxfail)
    if report.skipped and isinstance(report.longrepr, tuple):
        return str(report.longrepr[2]).removeprefix("Skipped: ")
    if report.failed:
        crash = getattr(report.longrepr, "reprcrash", None)
        return crash.message if crash is not None else str(report.longrepr)[-500:]
    return ""


class ResultsSink:
    """Collects a row when a test's outcome is settled (setup skip/failure, call, or a worker crash).

    ``path=None`` keeps rows in memory only (for the terminal summary). ``describe(nodeid)``
    supplies case/family/... for reports that carry no properties (an xdist worker crash).
    """

    def __init__(self, path: Path | None, pruner_name: str, pruner_version: str, *, pruner_spec: str = "",
                 describe=None):
        self.path = Path(path) if path else None
        self.rows: list[dict] = []
        self.base = {"pruner": pruner_name, "pruner_version": pruner_version, "versions": package_versions(),
                     "pruner_spec": pruner_spec or pruner_name}
        self._describe = describe
        self._tmp: Path | None = None
        self._file = None

    def record(self, report) -> None:
        if report.when == "setup" and report.passed:
            return
        if report.when == "teardown" and not report.failed:
            return
        props = dict(report.user_properties)
        if "check" not in props and self._describe is not None:
            props = self._describe(report.nodeid) or {}
        if "check" not in props:
            return  # not a conformance or property test of the pruner (tests/, meta tests)
        row = {**self.base, "case": props.get("case"), "family": props.get("family"), "mode": props.get("mode"),
               "scenario": props.get("scenario"), "check": props.get("check"), "outcome": outcome_of(report),
               "reason": reason_of(report), "duration": round(report.duration, 4), "nodeid": report.nodeid,
               "time": time.strftime("%Y-%m-%dT%H:%M:%S")}
        self.rows.append(row)
        if self.path is not None:
            self._write(row)

    def _write(self, row: dict) -> None:
        if self._file is None:  # opened on the first row: a run that records nothing writes nothing
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
            self._file = open(self._tmp, "w", encoding="utf-8")
        self._file.write(json.dumps(row, sort_keys=True) + "\n")
        self._file.flush()

    def counts(self) -> Counter:
        return Counter(r["outcome"] for r in self.rows)

    def close(self) -> None:
        if self._file is not None:
            self._file.close()
            os.replace(self._tmp, self.path)
            self._file = None
