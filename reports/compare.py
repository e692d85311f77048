"""Compare two runs: which checks flipped, which benchmark figures moved beyond noise.

    python -m reports.compare BASE NEW [--html reports/compare.html] [--min-effect 0.05]

BASE and NEW are each a results file, a stored run id (or a unique prefix of one), a label
(its newest stored runs), ``baseline:LABEL``, or ``baseline`` (the baseline of NEW's label).
Exits 1 when NEW has a regression, so CI can gate on it:

- a check that passed (or was skipped) in BASE and fails, errors, times out or unexpectedly
  passes a strict expected failure in NEW is a **regression**; an expected failure that now
  passes is a **stale declaration** (reported, not a regression); failing → passing is **fixed**;
- a benchmark figure **moved** when the interquartile ranges of its repeats do not overlap,
  the medians differ by at least ``--min-effect`` (relative), and, where both sides kept at
  least 4 samples, a two-sided Mann-Whitney U test gives p < ``--alpha``; moving the wrong way
  (slower, more memory, less throughput) is a regression.
Tests present on one side only are listed (new, missing), and subjects (pruners, benchmark
suites) present on one side only are named but not compared.
"""
from __future__ import annotations

import argparse
import math
import sys
from dataclasses import dataclass
from pathlib import Path

import pandas as pd

from . import history
from .html import write_sections

BAD = {"failed", "error", "timeout", "xpassed"}       # xpassed: a strict expected failure that passed
GOOD = {"passed"}
EXPECTED = {"xfailed"}
HIGHER_IS_BETTER = ("throughput", "speedup", "per_s", "per_sec", "/s")


@dataclass
class Comparison:
    base: history.Run
    new: history.Run
    checks: pd.DataFrame          # one row per differing test: test, subject, base, new, verdict, reason
    benchmarks: pd.DataFrame      # one row per compared figure
    unmatched_subjects: list[str]
    compared_tests: int = 0

    def count(self, verdict: str) -> int:
        n = int((self.checks["verdict"] == verdict).sum()) if len(self.checks) else 0
        if len(self.benchmarks):
            n += int((self.benchmarks["verdict"] == verdict).sum())
        return n

    @property
    def regressions(self) -> int:
        return self.count("regression")

    def summary(self) -> str:
        verdicts = ("regression", "stale declaration", "fixed", "changed", "new", "missing", "faster", "moved")
        parts = [f"{self.count(v)} {v}" for v in verdicts if self.count(v)]
        compared = f"{self.compared_tests} tests, {len(self.benchmarks)} benchmark figures compared"
        return f"{self.base.id} -> {self.new.id}: {compared}; " + (", ".join(parts) or "no difference")


def check_verdict(base: str | None, new: str | None) -> str | None:
    """How one test's outcome moved from BASE to NEW (None: it did not)."""
    if base == new:
        return None
    if base is None:
        return "new"
    if new is None:
        return "missing"
    if base in EXPECTED and new in GOOD | {"xpassed"}:
        return "stale declaration"
    if new in BAD and base not in BAD | EXPECTED:
        return "regression"
    if base in BAD | EXPECTED and new in GOOD:
        return "fixed"
    return "changed"


def compare_checks(base: dict, new: dict) -> tuple[pd.DataFrame, int]:
    rows = []
    for key in sorted(set(base) | set(new), key=str):
        b, n = base.get(key), new.get(key)
        verdict = check_verdict(b and b["outcome"], n and n["outcome"])
        if verdict is None:
            continue
        rows.append({"subject": (n or b)["pruner"], "test": history.key_text(key), "family": (n or b).get("family"),
                     "base": b["outcome"] if b else "", "new": n["outcome"] if n else "", "verdict": verdict,
                     "reason": ((n or {}).get("reason") or (b or {}).get("reason") or "")[:300]})
    columns = ["subject", "test", "family", "base", "new", "verdict", "reason"]
    return pd.DataFrame(rows, columns=columns), len(set(base) & set(new))


def mann_whitney_p(a: list[float], b: list[float]) -> float:
    """Two-sided p of the Mann-Whitney U test, normal approximation with tie and continuity corrections."""
    n1, n2 = len(a), len(b)
    ranks = pd.Series(list(a) + list(b)).rank().to_numpy()
    u = ranks[:n1].sum() - n1 * (n1 + 1) / 2
    ties = pd.Series(list(a) + list(b)).value_counts().to_numpy()
    n = n1 + n2
    var = n1 * n2 / 12 * ((n + 1) - float((ties ** 3 - ties).sum()) / (n * (n - 1)))
    if var <= 0:
        return 1.0  # every sample equal
    z = (abs(u - n1 * n2 / 2) - 0.5) / math.sqrt(var)
    return math.erfc(max(z, 0.0) / math.sqrt(2))


def higher_is_better(row: dict) -> bool:
    text = f"{row.get('metric', '')} {row.get('unit', '')}".lower()
    return any(word in text for word in HIGHER_IS_BETTER)


def figure_verdict(b: dict, n: dict, *, min_effect: float, alpha: float) -> tuple[str | None, float, float | None]:
    """(verdict or None, relative change of the median, Mann-Whitney p or None)."""
    bm, nm = float(b["median"]), float(n["median"])
    change = (nm - bm) / abs(bm) if bm else (math.inf if nm else 0.0)
    disjoint = float(n["q25"]) > float(b["q75"]) or float(n["q75"]) < float(b["q25"])
    p = None
    if len(b.get("samples") or []) >= 4 and len(n.get("samples") or []) >= 4:
        p = mann_whitney_p(b["samples"], n["samples"])
    if not (disjoint and abs(change) >= min_effect and (p is None or p < alpha)):
        return None, change, p
    worse = change < 0 if higher_is_better(n) else change > 0
    return ("regression" if worse else "faster"), change, p


def compare_benchmarks(base: dict, new: dict, *, min_effect: float, alpha: float) -> pd.DataFrame:
    rows = []
    for key in sorted(set(base) & set(new), key=str):
        b, n = base[key], new[key]
        verdict, change, p = figure_verdict(b, n, min_effect=min_effect, alpha=alpha)
        rows.append({"subject": history.subject_of(n), "figure": history.key_text(key), "unit": n.get("unit", ""),
                     "base median": b["median"], "base IQR": f"{b['q25']:.4g}..{b['q75']:.4g}",
                     "new median": n["median"], "new IQR": f"{n['q25']:.4g}..{n['q75']:.4g}",
                     "change": change, "p": p, "verdict": verdict or ""})
    for key in sorted(set(base) ^ set(new), key=str):
        row = new.get(key) or base[key]
        rows.append({"subject": history.subject_of(row), "figure": history.key_text(key), "unit": row.get("unit", ""),
                     "verdict": "new" if key in new else "missing"})
    columns = ["subject", "figure", "unit", "base median", "base IQR", "new median", "new IQR", "change", "p",
               "verdict"]
    return pd.DataFrame(rows, columns=columns)


def compare(base: history.Run, new: history.Run, *, min_effect: float = 0.05, alpha: float = 0.05) -> Comparison:
    def split(run):
        conf, bench = {}, {}
        for key, row in run.by_key().items():
            (bench if row.get("kind") == "benchmark" else conf)[key] = row
        return conf, bench

    def subjects(rows):
        return {history.subject_of(r) for r in rows}

    common = subjects(base.rows) & subjects(new.rows)
    unmatched = sorted(subjects(base.rows) ^ subjects(new.rows))
    (bc, bb), (nc, nb) = split(base), split(new)

    def keep(d):
        return {k: v for k, v in d.items() if history.subject_of(v) in common}

    checks, compared = compare_checks(keep(bc), keep(nc))
    benchmarks = compare_benchmarks(keep(bb), keep(nb), min_effect=min_effect, alpha=alpha)
    return Comparison(base, new, checks, benchmarks, unmatched, compared)


def _run_table(*runs: history.Run) -> pd.DataFrame:
    rows = []
    for side, run in zip(("base", "new"), runs):
        h = run.header
        rows.append({"": side, "run": run.id, "label": run.label, "subjects": h.get("subject", ""),
                     "pruners": ", ".join(f"{k} {v}" for k, v in h.get("pruners", {}).items()),
                     "versions": ", ".join(f"{k} {v}" for k, v in h.get("versions", {}).items()),
                     "git": h.get("git_rev", ""), "machine": h.get("machine", ""), "time": h.get("time", "")})
    return pd.DataFrame(rows)


def write_html(cmp: Comparison, path: Path) -> Path:
    verdict_order = ["regression", "stale declaration", "fixed", "changed", "new", "missing"]
    sections = [("Runs", _run_table(cmp.base, cmp.new)), ("Summary", cmp.summary())]
    if cmp.unmatched_subjects:
        sections.append(("Not compared (on one side only)", ", ".join(cmp.unmatched_subjects)))
    for verdict in verdict_order:
        part = cmp.checks[cmp.checks["verdict"] == verdict]
        if len(part):
            sections.append((f"Checks: {verdict} ({len(part)})", part.drop(columns="verdict")))
    moved = cmp.benchmarks[cmp.benchmarks["verdict"] != ""]
    if len(moved):
        sections.append((f"Benchmark figures beyond noise ({len(moved)})", moved))
    if len(cmp.benchmarks):
        sections.append((f"All benchmark figures ({len(cmp.benchmarks)})", cmp.benchmarks))
    return write_sections(path, f"Compare {cmp.base.id} -> {cmp.new.id}", sections,
                          verdict_colours=True)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m reports.compare", description=__doc__.split("\n\n")[0])
    parser.add_argument("base", help="results file, run id, label, baseline:LABEL or 'baseline'")
    parser.add_argument("new", help="results file, run id or label")
    parser.add_argument("--label", default=None, help="NEW's label when NEW is a plain results file")
    parser.add_argument("--root", type=Path, default=history.ROOT)
    parser.add_argument("--html", default="results/compare.html", help="page to write ('' for none)")
    parser.add_argument("--min-effect", type=float, default=0.05, help="smallest relative move of a median reported")
    parser.add_argument("--alpha", type=float, default=0.05, help="Mann-Whitney level for figures with samples")
    args = parser.parse_args(argv)
    try:
        new = history.resolve(args.new, args.root)
        base = history.resolve(args.base, args.root, label=args.label or new.label)
    except LookupError as exc:
        print(f"compare: {exc}", file=sys.stderr)
        return 2
    cmp = compare(base, new, min_effect=args.min_effect, alpha=args.alpha)
    with pd.option_context("display.width", 200, "display.max_colwidth", 80, "display.max_rows", 200):
        for verdict in ("regression", "stale declaration", "fixed", "changed", "new", "missing"):
            part = cmp.checks[cmp.checks["verdict"] == verdict]
            if len(part):
                print(f"\n{verdict} ({len(part)}):")
                print(part[["subject", "test", "base", "new", "reason"]].to_string(index=False))
        moved = cmp.benchmarks[cmp.benchmarks["verdict"] != ""]
        if len(moved):
            print(f"\nbenchmark figures ({len(moved)}):")
            print(moved.to_string(index=False))
    if cmp.unmatched_subjects:
        print(f"\nnot compared (one side only): {', '.join(cmp.unmatched_subjects)}")
    print("\n" + cmp.summary())
    if args.html:
        Path(args.html).parent.mkdir(parents=True, exist_ok=True)
        print(f"wrote {write_html(cmp, Path(args.html))}")
    return 1 if cmp.regressions else 0


if __name__ == "__main__":
    sys.exit(main())
