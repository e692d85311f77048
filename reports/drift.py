"""The release-drift page: each pruner's conformance matrix across environments, side by side.

    python -m reports.drift [--labels tf457,tf518,tf524] [--out reports/drift.html]

Reads the newest stored run of every pruner in every environment (label) from the history.
Environments are ordered by release (transformers, then timm, then torch version). Per pruner
the page shows the outcome counts per environment, a case x environment grid (passed of
total), and every test whose outcome differs between environments with the first
environment where it flipped.
"""
from __future__ import annotations

import argparse
import html
import sys
from pathlib import Path

import pandas as pd
from packaging.version import InvalidVersion, Version

from . import history
from .html import CSS, OUTCOME_COLOURS

RELEASE_KEYS = ("transformers", "timm", "torch")
NOT_RUN = "not run"


def _version(text: str) -> Version:
    try:
        return Version(text)
    except InvalidVersion:
        return Version("0")


def release_order(headers: list[dict]) -> list[str]:
    """Labels ordered by the releases their runs used."""
    seen: dict[str, tuple] = {}
    for h in headers:
        seen[h["label"]] = tuple(_version(h["versions"].get(k, "0")) for k in RELEASE_KEYS)
    return sorted(seen, key=lambda label: (seen[label], label))


def load_matrix(labels: list[str] | None = None, root: Path = history.ROOT) -> tuple[pd.DataFrame, list[dict]]:
    """Long table (pruner, label, test, case, family, outcome, reason) of the newest runs per label and pruner,
    and their headers. Benchmark runs are left out."""
    hs = [h for h in history.headers(root) if not h["subject"].startswith("benchmark:")]
    if labels:
        hs = [h for h in hs if h["label"] in labels]
    newest = {}
    for h in hs:  # oldest first, so the newest wins
        newest[(h["subject"], h["label"])] = h
    rows = []
    for (subject, label), h in newest.items():
        for r in history.load(Path(h["path"])).rows:
            rows.append({"pruner": subject, "label": label, "test": history.key_text(history.row_key(r)),
                         "case": r.get("case"), "family": r.get("family"), "check": r.get("check"),
                         "outcome": r["outcome"], "reason": r.get("reason", "")})
    return pd.DataFrame(rows, columns=["pruner", "label", "test", "case", "family", "check", "outcome", "reason"]), \
        list(newest.values())


def flips(outcomes: pd.Series) -> str:
    """'tf518: passed -> failed; ...' for an outcome row ordered by environment ('' when steady)."""
    present = [(label, o) for label, o in outcomes.items() if o != NOT_RUN]
    out = [f"{label}: {prev} -> {o}" for (_, prev), (label, o) in zip(present, present[1:]) if o != prev]
    return "; ".join(out)


def _cell_style(value) -> str:
    text = str(value)
    if "/" in text:  # "passed of total" grid cells
        done, _, rest = text.partition("/")
        total = rest.split(" ")[0]
        if done == total:
            return f"background-color: {OUTCOME_COLOURS['passed']}"
        return f"background-color: {OUTCOME_COLOURS['failed' if 'failed' in text or 'error' in text or 'timeout' in text else 'skipped']}"
    colour = OUTCOME_COLOURS.get(text)
    return f"background-color: {colour}" if colour else ""


def _style(table: pd.DataFrame, index: bool = True):
    styler = table.rename_axis(index=None, columns=None).style.format(escape="html").map(_cell_style)
    return styler if index else styler.hide(axis="index")


def _grid_cell(outcomes: pd.Series) -> str:
    if outcomes.empty:
        return NOT_RUN
    counts = outcomes.value_counts()
    text = f"{int(counts.get('passed', 0))}/{len(outcomes)}"
    others = [f"{n} {o}" for o, n in counts.items() if o != "passed"]
    return text + (f" ({', '.join(others)})" if others else "")


def pruner_section(frame: pd.DataFrame, hs: list[dict], order: list[str]) -> str:
    pruner = frame["pruner"].iloc[0]
    labels = [label for label in order if label in set(frame["label"])]
    by_label = {h["label"]: h for h in hs if h["subject"] == pruner}
    env = {}
    for label in labels:
        h = by_label[label]
        col = {k: h["versions"].get(k, "") for k in RELEASE_KEYS}
        col[f"{pruner} version"] = h["pruners"].get(pruner, "")
        col.update({"git": h["git_rev"], "run": h["time"], "wall s": h.get("wall_s", "")})
        for outcome, n in h["counts"].items():
            col[outcome] = n
        col["total"] = h["rows"]
        env[label] = col
    env_table = pd.DataFrame(env).fillna(0)

    wide = frame.pivot_table(index=["family", "case", "test"], columns="label", values="outcome",
                             aggfunc="first").reindex(columns=labels).fillna(NOT_RUN)
    grid = (frame.groupby(["case", "label"])["outcome"].apply(_grid_cell).unstack("label")
            .reindex(columns=labels).fillna(NOT_RUN))
    wide["first flip"] = wide[labels].apply(flips, axis=1)
    drifting = wide[wide["first flip"] != ""].reset_index()
    steady_bad = wide[(wide["first flip"] == "") & (wide[labels] != "passed").any(axis=1)].reset_index()
    reasons = (frame[frame["outcome"] != "passed"].groupby("test")["reason"].first())
    for table in (drifting, steady_bad):
        table["reason (any environment)"] = table["test"].map(reasons).astype(object).fillna("").str.slice(0, 160)

    parts = [f"<h2>{html.escape(pruner)}</h2>",
             "<h3>Environments</h3>", _style(env_table).to_html(),
             "<h3>Passed of total, per case</h3>", _style(grid).to_html()]
    if len(drifting):
        parts += [f"<h3>Tests whose outcome differs between environments ({len(drifting)})</h3>",
                  _style(drifting, index=False).to_html()]
    else:
        parts.append("<h3>Tests whose outcome differs between environments</h3><p>none: every test has the "
                     "same outcome in every environment it ran in</p>")
    if len(steady_bad):
        parts += [f"<details><summary>Tests with the same outcome everywhere, not passed ({len(steady_bad)})"
                  "</summary>", _style(steady_bad.drop(columns="first flip"), index=False).to_html(), "</details>"]
    return "".join(parts)


def write_page(path: Path, labels: list[str] | None = None, root: Path = history.ROOT) -> Path:
    frame, hs = load_matrix(labels, root)
    if frame.empty:
        raise ValueError(f"no stored conformance runs{' for ' + ', '.join(labels) if labels else ''} in {root}")
    order = release_order(hs)
    pruners = sorted(frame["pruner"].unique(), key=lambda p: (p != "headprune", p))
    summary = (frame.groupby(["pruner", "label"])["outcome"].apply(_grid_cell).unstack("label")
               .reindex(columns=order).reindex(pruners).fillna(NOT_RUN))
    body = ["<h1>Release drift</h1>",
            f"<p>Conformance outcomes per pruner across environments, oldest release first: "
            f"{html.escape(', '.join(order))}. Each column is the newest stored run of that environment "
            "(reports/history/). A flip names the environment where a test's outcome first differs from the "
            "environment before it.</p>",
            "<h2>Passed of total</h2>", _style(summary).to_html()]
    body += [pruner_section(frame[frame["pruner"] == p], hs, order) for p in pruners]
    page = (f"<!doctype html><html><head><meta charset='utf-8'><title>Release drift</title><style>{CSS}"
            "td { text-align: left; } details { margin: 1em 0; }</style></head><body>"
            + "".join(body) + "</body></html>")
    path.write_text(page, encoding="utf-8")
    return path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m reports.drift", description=__doc__.split("\n\n")[0])
    parser.add_argument("--labels", default=None, help="comma-separated environments (default: every stored one)")
    parser.add_argument("--root", type=Path, default=history.ROOT)
    parser.add_argument("--out", type=Path, default=Path("reports/drift.html"))
    args = parser.parse_args(argv)
    try:
        path = write_page(args.out, args.labels.split(",") if args.labels else None, args.root)
    except ValueError as exc:
        print(f"drift: {exc}", file=sys.stderr)
        return 1
    print(f"wrote {path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
