"""One JSON line per test: the raw material of reports/."""
from __future__ import annotations

import json
import platform
import time
from importlib.metadata import PackageNotFoundError, version

RESULTS_FIELDS = ("pruner", "pruner_version", "case", "family", "mode", "scenario", "check", "outcome",
                  "reason", "duration", "nodeid", "versions", "time")


def package_versions() -> dict[str, str]:
    out = {"python": platform.python_version()}
    for pkg in ("torch", "transformers", "timm", "hypothesis"):
        try:
            out[pkg] = version(pkg)
        except PackageNotFoundError:
            out[pkg] = "absent"
    return out


def outcome_of(report) -> str:
    if hasattr(report, "wasxfail"):
        return "xfailed" if report.skipped else "xpassed"
    if report.when != "call" and report.failed:
        return "error"
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
    """Writes a line when a test's outcome is settled (setup skip/failure, or call)."""

    def __init__(self, path, pruner_name: str, pruner_version: str):
        self.path = path
        path.parent.mkdir(parents=True, exist_ok=True)
        self.file = open(path, "w", encoding="utf-8")
        self.base = {"pruner": pruner_name, "pruner_version": pruner_version, "versions": package_versions()}

    def record(self, report) -> None:
        if report.when == "setup" and report.passed:
            return
        if report.when == "teardown" and not report.failed:
            return
        props = dict(report.user_properties)
        if "check" not in props:
            return  # not a conformance or property test of the pruner (tests/, meta tests)
        row = {**self.base, "case": props.get("case"), "family": props.get("family"), "mode": props.get("mode"),
               "scenario": props.get("scenario"), "check": props.get("check"), "outcome": outcome_of(report),
               "reason": reason_of(report), "duration": round(report.duration, 4), "nodeid": report.nodeid,
               "time": time.strftime("%Y-%m-%dT%H:%M:%S")}
        self.file.write(json.dumps(row, sort_keys=True) + "\n")
        self.file.flush()

    def close(self) -> None:
        self.file.close()
