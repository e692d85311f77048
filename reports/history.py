"""The results history: every stored suite or benchmark run, one small JSON-lines file each.

    python -m reports.history add results/conformance.jsonl --label tf524   # store a run
    python -m reports.history list [--label tf524]                          # what is stored
    python -m reports.history baseline tf524 [tf457 ...]                   # mark runs as the baseline

A run is one subject's rows from one results file in one environment: a pruner's
conformance rows (subject ``headprune``) or one benchmark suite's rows (subject
``benchmark:<suite>``); a file holding several subjects is stored as several runs. Each
run is ``reports/history/runs/<id>.jsonl``: a header line (label, dependency versions,
pruner versions, git revision, machine, outcome counts) and then the rows sorted by their
key, without what the header already says, so a file is small, never edited after it is
written, and a new run is one new file in a diff. ``baseline.json`` names the runs a label
is compared against by default.
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import re
import subprocess
import sys
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent / "history"
RUN_META = ("versions", "time", "git_rev", "machine")              # moved from the rows into the header
CONFORMANCE_DROP = ("duration", "nodeid", "pruner_version", "pruner_spec")   # noise, or said by the header
BENCHMARK_MEASURES = ("median", "q25", "q75", "min", "n", "samples", "unit")


def subject_of(row: dict) -> str:
    if row.get("kind") == "benchmark":
        return f"benchmark:{row.get('suite', '')}"
    return str(row["pruner"])


def row_key(row: dict) -> tuple:
    """What identifies a row across runs: the test (conformance) or the measured configuration."""
    if row.get("kind") == "benchmark":
        skip = set(BENCHMARK_MEASURES) | set(RUN_META) | {"device"}
        return tuple(sorted((k, json.dumps(v, sort_keys=True)) for k, v in row.items() if k not in skip))
    return (row.get("pruner"), row.get("case"), row.get("scenario") or "", row.get("check"))


def key_text(key: tuple) -> str:
    if key and isinstance(key[0], tuple):  # a benchmark configuration
        return " ".join(f"{k}={json.loads(v)}" for k, v in key if k not in ("kind", "suite"))
    pruner, case, scenario, check = key
    return "-".join(p for p in (case, scenario, check) if p)


@dataclass
class Run:
    """A stored (or just read) run: its header and its rows."""

    header: dict
    rows: list[dict] = field(default_factory=list)

    @property
    def id(self) -> str:
        return self.header.get("id", "")

    @property
    def label(self) -> str:
        return self.header.get("label", "")

    @property
    def subject(self) -> str:
        return self.header.get("subject", "")

    def by_key(self) -> dict[tuple, dict]:
        return {row_key(r): r for r in self.rows}


def read_jsonl(path: Path) -> list[dict]:
    with open(path, encoding="utf-8") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def git_revision(repo: Path | None = None) -> str:
    """HEAD of the repository holding this package, with ``+dirty`` for uncommitted tracked changes."""
    cwd = repo or Path(__file__).resolve().parent.parent
    try:
        rev = subprocess.run(["git", "rev-parse", "--short=12", "HEAD"], cwd=cwd, capture_output=True,
                             text=True, check=True).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=cwd,
                               capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return rev + ("+dirty" if dirty else "")


def this_machine() -> str:
    return f"{platform.node()} ({platform.system()} {platform.machine()}, {os.cpu_count()} cpus)"


def _compact(row: dict) -> dict:
    drop = set(RUN_META) | (set() if row.get("kind") == "benchmark" else set(CONFORMANCE_DROP))
    out = {k: v for k, v in row.items() if k not in drop}
    if out.get("reason") == "":
        del out["reason"]
    return out


def _first(rows: list[dict], name: str):
    return next((r[name] for r in rows if r.get(name)), None)


def make_runs(rows: list[dict], *, label: str, source: str = "", git_rev: str | None = None,
              machine: str | None = None, wall_s: float | None = None) -> list[Run]:
    """Group results rows into runs (one per subject) with their headers; nothing is written."""
    groups: dict[str, list[dict]] = {}
    for row in rows:
        groups.setdefault(subject_of(row), []).append(row)
    runs = []
    for subject, group in sorted(groups.items()):
        compact = sorted((_compact(r) for r in group), key=lambda r: json.dumps(row_key(r)))
        times = sorted(r["time"] for r in group if r.get("time"))
        header = {
            "kind": "run", "label": label, "subject": subject,
            "versions": _first(group, "versions") or {},
            "pruners": {str(r["pruner"]): str(r.get("pruner_version", "")) for r in group if r.get("pruner")},
            "pruner_spec": _first(group, "pruner_spec") or "",
            "git_rev": git_rev or _first(group, "git_rev") or git_revision(),
            "machine": machine or _first(group, "machine") or this_machine(),
            "time": times[0] if times else time.strftime("%Y-%m-%dT%H:%M:%S"),
            "source": source, "rows": len(compact), **({"wall_s": round(wall_s)} if wall_s is not None else {}),
            "counts": dict(sorted(Counter(r.get("outcome", "measured") for r in compact).items())),
        }
        digest = hashlib.sha256(json.dumps([label, subject, header["versions"], header["git_rev"], compact],
                                           sort_keys=True).encode()).hexdigest()[:8]
        stamp = header["time"].replace("-", "").replace(":", "")
        header["id"] = f"{stamp}-{label}-{subject.replace(':', '-')}-{digest}"
        runs.append(Run(header, compact))
    return runs


def _run_path(root: Path, run_id: str) -> Path:
    return root / "runs" / f"{run_id}.jsonl"


def _without_subject(row: dict) -> dict:
    return row if row.get("kind") == "benchmark" else {k: v for k, v in row.items() if k != "pruner"}


def store(run: Run, root: Path = ROOT) -> tuple[Path, bool]:
    """Write the run unless the same run is already stored; returns (path, newly written)."""
    path = _run_path(root, run.id)
    if path.exists():
        return path, False
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    with open(tmp, "w", encoding="utf-8") as fh:
        for line in (run.header, *(_without_subject(r) for r in run.rows)):
            fh.write(json.dumps(line, sort_keys=True, separators=(",", ":")) + "\n")
    tmp.replace(path)  # a half-written run never looks stored
    return path, True


def add(results: Path, label: str, root: Path = ROOT, **meta) -> list[tuple[Run, Path, bool]]:
    if not re.fullmatch(r"[A-Za-z0-9][A-Za-z0-9._+-]*", label):
        raise ValueError(f"label {label!r}: use letters, digits and . _ + - (it becomes part of a file name)")
    rows = read_jsonl(results)
    if not rows:
        raise ValueError(f"{results}: no results rows (nothing was run?); nothing stored")
    return [(run, *store(run, root)) for run in make_runs(rows, label=label, source=str(results), **meta)]


def load(path: Path) -> Run:
    lines = read_jsonl(path)
    if lines and lines[0].get("kind") == "run":
        header, rows = lines[0], lines[1:]
        for row in rows:  # give the rows back what the header holds for them
            if row.get("kind") != "benchmark":
                row["pruner"] = header["subject"]
                row["pruner_version"] = header["pruners"].get(header["subject"], "")
        return Run(header, rows)
    runs = make_runs(lines, label=path.stem, source=str(path))  # a plain results file, not stored
    if len(runs) == 1:
        return runs[0]
    return Run({**runs[0].header, "subject": "+".join(r.subject for r in runs),
                "id": f"{path.name} ({len(lines)} rows)"}, [row for r in runs for row in r.rows])


def headers(root: Path = ROOT) -> list[dict]:
    """Every stored run's header, oldest first."""
    out = []
    for path in sorted((root / "runs").glob("*.jsonl")):
        with open(path, encoding="utf-8") as fh:
            out.append({**json.loads(fh.readline()), "path": str(path)})
    return sorted(out, key=lambda h: (h["time"], h["id"]))


def latest_per_subject(label: str, root: Path = ROOT) -> list[dict]:
    newest: dict[str, dict] = {}
    for h in headers(root):
        if h["label"] == label:
            newest[h["subject"]] = h
    return list(newest.values())


def baseline_ids(root: Path = ROOT) -> dict[str, list[str]]:
    path = root / "baseline.json"
    return json.loads(path.read_text()) if path.exists() else {}


def set_baseline(labels: list[str], root: Path = ROOT) -> dict[str, list[str]]:
    base = baseline_ids(root)
    for label in labels:
        ids = [h["id"] for h in latest_per_subject(label, root)]
        if not ids:
            raise ValueError(f"no stored run has the label {label!r}")
        base[label] = sorted(ids)
    (root / "baseline.json").write_text(json.dumps(dict(sorted(base.items())), indent=1) + "\n")
    return base


def merge(runs: list[Run], name: str) -> Run:
    if len(runs) == 1:
        return runs[0]
    header = {**runs[0].header, "id": name, "subject": "+".join(r.subject for r in runs),
              "pruners": {k: v for r in runs for k, v in r.header.get("pruners", {}).items()}}
    return Run(header, [row for r in runs for row in r.rows])


def resolve(spec: str, root: Path = ROOT, *, label: str | None = None) -> Run:
    """A run from: a results or run file path, a stored run id (or a unique prefix), a label (its
    newest run of every subject), ``baseline:LABEL``, or ``baseline`` (needs ``label``)."""
    if spec == "baseline" or spec.startswith("baseline:"):
        wanted = spec.partition(":")[2] or label
        ids = baseline_ids(root).get(wanted or "")
        if not ids:
            raise LookupError(f"no baseline for label {wanted!r}; stored baselines: {sorted(baseline_ids(root))}")
        return merge([load(_run_path(root, i)) for i in ids], f"baseline:{wanted}")
    path = Path(spec)
    if path.is_file():
        return load(path)
    stored = headers(root)
    exact = [h for h in stored if h["id"] == spec] or [h for h in stored if h["id"].startswith(spec)]
    if len(exact) == 1:
        return load(Path(exact[0]["path"]))
    if len(exact) > 1:
        raise LookupError(f"{spec!r} matches {len(exact)} runs: {[h['id'] for h in exact][:5]}")
    by_label = latest_per_subject(spec, root)
    if by_label:
        return merge([load(Path(h["path"])) for h in by_label], spec)
    raise LookupError(f"{spec!r} is no file, stored run id or label (labels: {sorted({h['label'] for h in stored})})")


def _print_table(hs: list[dict]) -> None:
    for h in hs:
        v = h.get("versions", {})
        deps = " ".join(f"{k} {v[k]}" for k in ("transformers", "timm", "torch") if k in v)
        counts = " ".join(f"{k}={n}" for k, n in h.get("counts", {}).items())
        print(f"{h['id']:<58} {h['git_rev']:<18} {deps:<44} {counts}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m reports.history", description=__doc__.split("\n\n")[0])
    parser.add_argument("--root", type=Path, default=ROOT, help=f"history folder (default {ROOT})")
    sub = parser.add_subparsers(dest="command", required=True)
    p_add = sub.add_parser("add", help="store results files as runs")
    p_add.add_argument("results", type=Path, nargs="+")
    p_add.add_argument("--label", required=True, help="the environment, e.g. the tox env name")
    p_add.add_argument("--git-rev", default=None, help="the revision that produced the results (default: HEAD)")
    p_add.add_argument("--wall-s", type=float, default=None, help="how long the run took, to keep with it")
    p_list = sub.add_parser("list", help="stored runs, oldest first")
    p_list.add_argument("--label", default=None)
    p_base = sub.add_parser("baseline", help="make the newest runs of these labels their baseline")
    p_base.add_argument("labels", nargs="+")
    args = parser.parse_args(argv)

    if args.command == "add":
        for results in args.results:
            try:
                stored = add(results, args.label, args.root, git_rev=args.git_rev, wall_s=args.wall_s)
            except (OSError, ValueError) as exc:
                print(f"history: {exc}", file=sys.stderr)
                return 1
            for run, path, new in stored:
                print(f"{'stored' if new else 'already stored'} {run.id}  ({run.header['rows']} rows) -> {path}")
    elif args.command == "list":
        _print_table([h for h in headers(args.root) if args.label in (None, h["label"])])
    else:
        try:
            base = set_baseline(args.labels, args.root)
        except ValueError as exc:
            print(f"history: {exc}", file=sys.stderr)
            return 1
        for label in args.labels:
            print(f"baseline {label}: {', '.join(base[label])}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
