"""Run the conformance suite for every installed pruner in this environment and store each run.

    python -m reports.env_run --label tf524 [--no-store] [-- extra pytest args]

What tox's release environments run. Every pruner that ``headprune.discovery`` lists and
that loads here (its extra installed, its release in reach) is run as
``pytest suites --pruner NAME -n 2 --hypothesis-profile=ci -m "not meta" --results results/LABEL/NAME.jsonl``
(``--meta`` adds the mutant meta tests to the reference pruner's run), timed, stored in
the history under LABEL, and compared with LABEL's baseline when there is one. A pruner that
does not load is named and skipped. Exits non-zero when the reference pruner fails any test or
any pruner regressed against the baseline: third-party pruners' known failures do not fail it.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

from headprune import discovery
from suites.results import package_versions

from . import compare, history

REFERENCE = "headprune"


def installed_pruners() -> dict[str, str]:
    """Name -> what it points at, one name per target, for the pruners that load here."""
    found, seen = {}, set()
    for name, target in discovery.available().items():
        if target in seen:
            continue  # an alias ("reference")
        seen.add(target)
        try:
            discovery.find(name)
        except discovery.PrunerNotFound as exc:
            print(f"env_run: pruner {name!r} not run here: {exc}", flush=True)
            continue
        found[name] = target
    return dict(sorted(found.items(), key=lambda kv: (kv[0] != REFERENCE, kv[0])))


def pytest_command(name: str, results: Path, extra: list[str], meta: bool = False) -> list[str]:
    cmd = [sys.executable, "-m", "pytest", "suites", "-n", "2", "--hypothesis-profile=ci", "-q",
           "-p", "no:cacheprovider", "--pruner", name, "--results", str(results)]
    if not (meta and name == REFERENCE):
        cmd += ["-m", "not meta"]  # they prove the suite, not the pruner, and record no rows
    return cmd + extra


def _baseline_of(label: str, subject: str) -> history.Run | None:
    """The label's baseline run of this pruner (a baseline holds one run per pruner), if any."""
    ids = history.baseline_ids().get(label, [])
    runs = [history.resolve(i) for i in ids]
    return next((r for r in runs if r.subject == subject), None)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m reports.env_run", description=__doc__.split("\n\n")[0])
    parser.add_argument("--label", required=True, help="the environment's name in the history (the tox env)")
    parser.add_argument("--out", type=Path, default=Path("results"), help="results go to OUT/LABEL/PRUNER.jsonl")
    parser.add_argument("--no-store", action="store_true", help="run and report, but store nothing in the history")
    parser.add_argument("--meta", action="store_true", help="also run the mutant meta tests (reference pruner)")
    parser.add_argument("--pruners", default=None, help="comma-separated subset of the installed pruners")
    parser.add_argument("pytest_args", nargs="*", help="passed on to pytest (after --)")
    args = parser.parse_args(argv)

    pruners = installed_pruners()
    if args.pruners:
        pruners = {n: t for n, t in pruners.items() if n in args.pruners.split(",")}
    rev = history.git_revision()
    status, lines = 0, []
    for name in pruners:
        results = args.out / args.label / f"{name}.jsonl"
        start = time.perf_counter()
        rc = subprocess.run(pytest_command(name, results, args.pytest_args, args.meta), env={**os.environ, "CI": "true"}).returncode
        wall = time.perf_counter() - start
        if not results.exists() or not results.stat().st_size:
            lines.append(f"{name}: pytest exited {rc} after {wall:.0f} s and wrote no results")
            status = 1
            continue
        run = history.make_runs(history.read_jsonl(results), label=args.label, git_rev=rev)[0]
        counts = ", ".join(f"{k} {n}" for k, n in run.header["counts"].items())
        lines.append(f"{name} {run.header['pruners'].get(name, '')}: {counts}; pytest exit {rc}; {wall:.0f} s wall")
        if name == REFERENCE and rc != 0:
            status = 1
        if not args.no_store:
            for _run, path, new in history.add(results, args.label, git_rev=rev, wall_s=wall):
                lines.append(f"  {'stored' if new else 'already stored'} {path}")
        base = _baseline_of(args.label, run.subject)
        if base is None:
            lines.append(f"  no baseline for {name} under {args.label} (python -m reports.history baseline {args.label})")
            continue
        cmp = compare.compare(base, run)
        lines.append(f"  against the baseline: {cmp.summary()}")
        if cmp.regressions:
            status = 1
            out = args.out / args.label / f"{name}-compare.html"
            lines.append(f"  regressions listed in {compare.write_html(cmp, out)}")
    versions = ", ".join(f"{k} {v}" for k, v in package_versions().items())
    print(f"\n== {args.label}: {versions} on {history.this_machine()}")
    print("\n".join(lines))
    return status


if __name__ == "__main__":
    sys.exit(main())
