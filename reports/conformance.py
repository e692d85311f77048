"""The conformance report: results of one or more suite runs, side by side, as one HTML page.

    python -m reports.conformance results/*.jsonl --out reports/conformance.html

Reads the JSON lines the suite writes (``--results``; schema in suites/results.py), one file
per pruner run, and renders a self-contained page (inline CSS, no scripts): counts per pruner
and outcome, the pivot of every (family, case, scenario) x (check, pruner) cell coloured by
outcome, the reason and a repro command for every failure, timeout, error, unsupported
answer and expected failure, the skip reasons with their counts, the defects written up
under reports/defects/, and the versions each run used. Prints the counts table.
"""
from __future__ import annotations

import argparse
import html
import json
import shlex
import sys
from pathlib import Path

import pandas as pd

from suites.results import OUTCOMES

from .defects import DEFECTS

SYMBOL = {"passed": "✓", "failed": "✗", "timeout": "⏱", "error": "E", "unsupported": "U", "skipped": "–",
          "xfailed": "x", "xpassed": "X!"}
COLOUR = {"passed": "#cfc", "failed": "#f99", "timeout": "#fc6", "error": "#f6c", "unsupported": "#ccf",
          "skipped": "#eee", "xfailed": "#ffc", "xpassed": "#f9f"}
DETAILED = ("failed", "timeout", "error", "unsupported", "xfailed", "xpassed")  # one line each, with its reason

CSS = """
body { font-family: system-ui, sans-serif; margin: 2em; }
table { border-collapse: collapse; font-size: 0.85em; margin-bottom: 1.5em; }
th, td { border: 1px solid #ccc; padding: 0.2em 0.5em; }
th { background: #f3f3f3; }
td.cell { text-align: center; min-width: 1.4em; }
td.reason { max-width: 60em; white-space: pre-wrap; font-family: monospace; font-size: 0.95em; }
code { font-size: 0.95em; }
""" + "".join(f"td.o-{o} {{ background: {c}; }}\n" for o, c in COLOUR.items())


def load(paths) -> pd.DataFrame:
    rows = []
    for path in paths:
        for line in Path(path).read_text(encoding="utf-8").splitlines():
            if line.strip():
                row = json.loads(line)
                if row.get("kind", "conformance") == "conformance":
                    rows.append(row)
    if not rows:
        raise SystemExit("no conformance rows in " + ", ".join(map(str, paths)))
    df = pd.DataFrame(rows)
    if "pruner_spec" not in df:
        df["pruner_spec"] = df["pruner"]
    df["pruner_spec"] = df["pruner_spec"].fillna(df["pruner"])
    df["scenario"] = df["scenario"].fillna("").replace("", "(property)")
    df["label"] = df["pruner"] + " " + df["pruner_version"].astype(str)
    return df.drop_duplicates(subset=["label", "nodeid"], keep="last").reset_index(drop=True)


def repro(row) -> str:
    spec = row["pruner_spec"]
    if row["scenario"] != "(property)" and "test_conformance[" in row["nodeid"]:
        return "python -m suites.repro " + " ".join(
            shlex.quote(a) for a in ("--pruner", spec, row["case"], row["scenario"], row["check"]))
    return f"python -m pytest {shlex.quote(row['nodeid'])} --pruner {shlex.quote(spec)}"


def counts(df: pd.DataFrame) -> pd.DataFrame:
    table = pd.crosstab(df["label"], df["outcome"]).reindex(columns=[o for o in OUTCOMES if o in set(df["outcome"])],
                                                            fill_value=0)
    table["total"] = table.sum(axis=1)
    table["test time s"] = df.groupby("label")["duration"].sum().round(0).astype(int)
    table.index.name = "pruner"
    return table


def pivot(df: pd.DataFrame) -> pd.DataFrame:
    return df.pivot_table(index=["family", "case", "scenario"], columns=["check", "label"], values="outcome",
                          aggfunc="first").sort_index()


def _esc(text) -> str:
    return html.escape(str(text), quote=True)


def _counts_html(table: pd.DataFrame) -> str:
    head = "".join(f"<th>{_esc(c)}</th>" for c in ["pruner", *table.columns])
    body = []
    for label, row in table.iterrows():
        cells = "".join(f"<td class='cell o-{c}'>{row[c]}</td>" if c in COLOUR else f"<td>{row[c]}</td>"
                        for c in table.columns)
        body.append(f"<tr><th>{_esc(label)}</th>{cells}</tr>")
    return f"<table id='counts'><tr>{head}</tr>{''.join(body)}</table>"


def _pivot_html(df: pd.DataFrame) -> str:
    grid = pivot(df)
    reasons = {(r.family, r.case, r.scenario, r.check, r.label): r.reason for r in df.itertuples()}
    checks = list(dict.fromkeys(c for c, _ in grid.columns))
    labels = sorted(set(df["label"]))
    top = "".join(f"<th colspan='{len(labels)}'>{_esc(c)}</th>" for c in checks)
    sub = "".join(f"<th title='{_esc(lb)}'>{i + 1}</th>" for _ in checks for i, lb in enumerate(labels))
    rows = []
    for (family, case, scenario), line in grid.iterrows():
        cells = []
        for check in checks:
            for label in labels:
                outcome = line.get((check, label))
                if not isinstance(outcome, str):
                    cells.append("<td></td>")
                    continue
                why = reasons.get((family, case, scenario, check, label)) or ""
                cells.append(f"<td class='cell o-{outcome}' title='{_esc(label + ': ' + outcome + ' ' + why)}'>"
                             f"{SYMBOL.get(outcome, '?')}</td>")
        rows.append(f"<tr><td>{_esc(family)}</td><td>{_esc(case)}</td><td>{_esc(scenario)}</td>{''.join(cells)}</tr>")
    key = " ".join(f"{i + 1} = {_esc(lb)};" for i, lb in enumerate(labels))
    legend = " ".join(f"<span style='background:{COLOUR[o]}'>&nbsp;{SYMBOL[o]} {o}&nbsp;</span>" for o in COLOUR)
    return (f"<p>Columns under each check: {key} Hover a cell for its reason. {legend}</p>"
            f"<table id='pivot'><tr><th rowspan='2'>family</th><th rowspan='2'>case</th><th rowspan='2'>scenario</th>"
            f"{top}</tr><tr>{sub}</tr>{''.join(rows)}</table>")


def _details_html(df: pd.DataFrame) -> str:
    picked = df[df["outcome"].isin(DETAILED)].sort_values(["label", "outcome", "check", "case", "scenario"])
    rows = "".join(
        f"<tr><td>{_esc(r['label'])}</td><td class='cell o-{r['outcome']}'>{_esc(r['outcome'])}</td>"
        f"<td>{_esc(r['case'])}</td><td>{_esc(r['scenario'])}</td><td>{_esc(r['check'])}</td>"
        f"<td class='reason'>{_esc(r['reason'])}</td><td><code>{_esc(repro(r))}</code></td></tr>"
        for _, r in picked.iterrows())
    return (f"<table id='details'><tr><th>pruner</th><th>outcome</th><th>case</th><th>scenario</th><th>check</th>"
            f"<th>reason</th><th>repro</th></tr>{rows}</table>")


def _skips_html(df: pd.DataFrame) -> str:
    skipped = df[df["outcome"] == "skipped"]
    grouped = skipped.groupby(["label", "reason"]).agg(n=("nodeid", "size"), cases=("case", lambda c: ", ".join(sorted(set(c)))))
    rows = "".join(f"<tr><td>{_esc(label)}</td><td class='reason'>{_esc(reason)}</td><td>{g['n']}</td>"
                   f"<td>{_esc(g['cases'])}</td></tr>" for (label, reason), g in grouped.iterrows())
    return (f"<table id='skips'><tr><th>pruner</th><th>skip reason</th><th>tests</th><th>cases</th></tr>{rows}</table>")


def _defects_html(labels) -> str:
    pruners = {lb.split(" ")[0] for lb in labels}
    rows = "".join(
        f"<tr><td>{_esc(d.pruner)}</td><td>{_esc(d.title)}</td><td>{_esc(d.check)}</td><td>{_esc(d.smallest)}</td>"
        f"<td><code>{_esc(d.script if d.script.startswith('python') else 'python ' + d.script)}</code></td></tr>"
        for d in DEFECTS if d.pruner in pruners)
    return ("<table id='defects'><tr><th>pruner</th><th>defect</th><th>caught by</th><th>smallest zoo model</th>"
            f"<th>standalone repro</th></tr>{rows}</table><p>Paragraphs: reports/defects/README.md.</p>")


def _versions_html(df: pd.DataFrame) -> str:
    rows = []
    for label, group in df.groupby("label"):
        versions = group["versions"].iloc[-1] or {}
        text = ", ".join(f"{k} {v}" for k, v in sorted(versions.items()))
        rows.append(f"<tr><td>{_esc(label)}</td><td>{_esc(group['pruner_spec'].iloc[-1])}</td><td>{_esc(text)}</td>"
                    f"<td>{_esc(group['time'].min())} .. {_esc(group['time'].max())}</td></tr>")
    return f"<table id='versions'><tr><th>pruner</th><th>--pruner</th><th>versions</th><th>run</th></tr>{''.join(rows)}</table>"


def render(df: pd.DataFrame, title: str = "headprune conformance report") -> str:
    labels = sorted(set(df["label"]))
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>{_esc(title)}</title><style>{CSS}</style>"
            f"</head><body><h1>{_esc(title)}</h1>"
            f"<p>{len(df)} results from {len(labels)} pruner runs of <code>pytest suites/ --pruner NAME</code>: "
            f"{_esc(', '.join(labels))}.</p>"
            f"<h2>Outcomes</h2>{_counts_html(counts(df))}"
            f"<h2>Defects found</h2>{_defects_html(labels)}"
            f"<h2>Every case, scenario and check</h2>{_pivot_html(df)}"
            f"<h2>Failures, timeouts, errors, unsupported answers and expected failures</h2>{_details_html(df)}"
            f"<h2>Skipped, by reason</h2>{_skips_html(df)}"
            f"<h2>Versions</h2>{_versions_html(df)}</body></html>")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m reports.conformance", description=__doc__.strip().splitlines()[0])
    ap.add_argument("results", nargs="+", help="JSON-lines results files (one per pruner run)")
    ap.add_argument("--out", default="reports/conformance.html")
    args = ap.parse_args(argv)
    df = load(args.results)
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(render(df), encoding="utf-8")
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        print(counts(df).to_string())
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
