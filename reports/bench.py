"""Benchmark rows (JSON lines) -> pandas tables -> one self-contained HTML page with plots.

    python -m reports.bench reports/bench/cpu.jsonl [more.jsonl ...] [--out reports/bench/cpu.html]

(``python -m suites.benchmarks`` writes both files in one go.) The plots are matplotlib
figures embedded as inline SVG, so the page needs nothing beside itself.
"""
from __future__ import annotations

import argparse
import html
import io
import sys
from pathlib import Path

import pandas as pd

from .html import CSS

PAGE_CSS = CSS + """
h2 { margin-top: 1.6em; } .note { color: #555; max-width: 60em; } svg { max-width: 100%; height: auto; }
td:first-child, th:first-child { text-align: left; }
"""


def load(*paths: Path) -> pd.DataFrame:
    df = pd.concat([pd.read_json(p, lines=True) for p in paths], ignore_index=True)
    return df[df["kind"] == "benchmark"].copy()


def _metric(df: pd.DataFrame, metric: str) -> pd.DataFrame:
    return df[df["metric"] == metric]


def _key(df: pd.DataFrame) -> list[str]:
    return ["suite", "case", "scenario", "batch", "seq", "mode", "ratio"]


def _label(row) -> str:
    return "dense" if row["mode"] == "dense" else f"{row['mode']} {row['ratio']:g}"


def speedup_table(df: pd.DataFrame, suite: str = "families") -> pd.DataFrame:
    """One row per (family, mode, ratio): measured speedup (median, quartiles) against the FLOP ratio."""
    d = df[(df["suite"] == suite) & (df["mode"] != "dense")]
    if d.empty:
        return pd.DataFrame()
    sp = _metric(d, "speedup").set_index(_key(d))
    ideal = _metric(d, "ideal_speedup").set_index(_key(d))["median"]
    lat = _metric(d, "latency_ms").set_index(_key(d))["median"]
    params = _metric(d, "params").set_index(_key(d))["median"]
    out = pd.DataFrame({
        "speedup": sp["median"], "q25": sp["q25"], "q75": sp["q75"], "ideal (FLOPs)": ideal,
        "of ideal": sp["median"] / ideal, "latency ms": lat, "params M": params,
        "head_dim": sp["layout"].map(lambda x: x["head_dim"]), "heads": sp["layout"].map(lambda x: x["heads"]),
        "sdpa": sp["sdpa_backend"],
    }).reset_index()
    dense = df[(df["suite"] == suite) & (df["mode"] == "dense")]
    dense_lat = _metric(dense, "latency_ms").set_index(["case", "scenario", "batch", "seq"])["median"]
    out.insert(out.columns.get_loc("latency ms"), "dense ms",
               [dense_lat.get((c, s, b, q)) for c, s, b, q in zip(out["case"], out["scenario"], out["batch"],
                                                                 out["seq"])])
    return out.drop(columns=["suite"]).sort_values(["case", "scenario", "batch", "seq", "mode", "ratio"])


def alignment_table(df: pd.DataFrame) -> pd.DataFrame:
    d = df[df["suite"] == "alignment"]
    if d.empty:
        return pd.DataFrame()
    sp = _metric(d, "speedup").copy()
    ideal = _metric(d, "ideal_speedup").set_index(["mode", "ratio"])["median"]
    lat = _metric(d, "latency_ms").set_index(["mode", "ratio"])
    sp["kept head_dim"] = sp["kept_dims"]
    out = pd.DataFrame({
        "kept head_dim": sp["kept_dims"].values, "multiple of 8": (sp["kept_dims"] % 8 == 0).values,
        "latency ms": [lat.loc[(m, r), "median"] for m, r in zip(sp["mode"], sp["ratio"])],
        "speedup": sp["median"].values, "q25": sp["q25"].values, "q75": sp["q75"].values,
        "ideal (FLOPs)": [ideal.loc[(m, r)] for m, r in zip(sp["mode"], sp["ratio"])],
    })
    return out.sort_values("kept head_dim", ascending=False)


def prune_speed_table(df: pd.DataFrame) -> pd.DataFrame:
    d = df[df["suite"] == "prune_speed"]
    if d.empty:
        return pd.DataFrame()
    rows = []
    for method, g in d.groupby("mode", sort=False):
        m = {r["metric"]: r for _, r in g.iterrows()}
        first = next(iter(m.values()))
        if "seconds" not in m:
            bound = m.get("seconds_at_least")
            rows.append({"method": method, "seconds": f">= {bound['median']:.0f}" if bound is not None else None,
                         "outcome": first.get("error", "failed")})
            continue
        slower = m.get("torch_pruning_slower")
        at_least = m.get("torch_pruning_slower_at_least")
        rows.append({
            "method": method, "seconds": f"{m['seconds']['median']:.3f}",
            "x floor": m["vs_floor"]["median"] if "vs_floor" in m else None,
            "Torch-Pruning / this": (f"{slower['median']:.1f}" if slower is not None
                                     else f">= {at_least['median']:.0f}" if at_least is not None else None),
            "peak memory (x model)": m["peak_memory_ratio"]["median"] if "peak_memory_ratio" in m else None,
            "rounds": m["seconds"]["n"], "q rows": first.get("q_rows"), "kv rows": first.get("kv_rows"),
            "outcome": f"forward {first.get('forward')}",
        })
    return pd.DataFrame(rows)


def headline(df: pd.DataFrame) -> pd.DataFrame:
    """Per family and mode at ratio 0.5: measured speedup, ideal, and their ratio."""
    t = speedup_table(df)
    if t.empty:
        return t
    t = t[t["ratio"] == 0.5]
    return t[["case", "mode", "speedup", "q25", "q75", "ideal (FLOPs)", "of ideal", "head_dim", "sdpa"]]


# -- plots ------------------------------------------------------------------------------------

def _svg(fig) -> str:
    buf = io.StringIO()
    fig.savefig(buf, format="svg", bbox_inches="tight")
    import matplotlib.pyplot as plt

    plt.close(fig)
    text = buf.getvalue()
    return text[text.index("<svg"):]


def plot_speedups(table: pd.DataFrame) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cases = list(dict.fromkeys(table["case"]))
    cols = 4
    rows = -(-len(cases) // cols)
    fig, axes = plt.subplots(rows, cols, figsize=(3.4 * cols, 2.9 * rows), squeeze=False)
    for ax, case in zip(axes.flat, cases):
        t = table[table["case"] == case]
        for mode, colour in (("heads", "tab:blue"), ("head_dims", "tab:orange")):
            m = t[t["mode"] == mode].sort_values("ratio")
            if m.empty:
                continue
            x = [0.0, *m["ratio"]]
            ax.errorbar(x, [1.0, *m["speedup"]], yerr=[[0, *(m["speedup"] - m["q25"])], [0, *(m["q75"] - m["speedup"])]],
                        marker="o", color=colour, label=f"{mode} measured", capsize=2)
            ax.plot(x, [1.0, *m["ideal (FLOPs)"]], linestyle="--", color=colour, alpha=0.6, label=f"{mode} ideal")
        ax.axhline(1.0, color="#999", linewidth=0.8)
        ax.set_title(case, fontsize=10)
        ax.set_xlabel("ratio removed")
        ax.set_ylabel("speedup vs dense")
    for ax in list(axes.flat)[len(cases):]:
        ax.axis("off")
    axes.flat[0].legend(fontsize=7)
    fig.tight_layout()
    return _svg(fig)


def plot_alignment(table: pd.DataFrame) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    t = table.sort_values("kept head_dim")
    fig, ax = plt.subplots(figsize=(7, 3.4))
    ax.errorbar(t["kept head_dim"], t["speedup"], yerr=[t["speedup"] - t["q25"], t["q75"] - t["speedup"]],
                marker="o", capsize=2, label="measured")
    ax.plot(t["kept head_dim"], t["ideal (FLOPs)"], linestyle="--", label="ideal (FLOPs)")
    aligned = t[t["multiple of 8"]]
    ax.scatter(aligned["kept head_dim"], aligned["speedup"], s=80, facecolors="none", edgecolors="green",
               label="multiple of 8", zorder=3)
    ax.axhline(1.0, color="#999", linewidth=0.8)
    ax.set_xlabel("kept head_dim (of 64)")
    ax.set_ylabel("speedup vs dense")
    ax.invert_xaxis()
    ax.legend(fontsize=8)
    fig.tight_layout()
    return _svg(fig)


def plot_prefill_decode(table: pd.DataFrame) -> str:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    cases = list(dict.fromkeys(table["case"]))
    fig, axes = plt.subplots(1, len(cases), figsize=(4.2 * len(cases), 3.3), squeeze=False)
    for ax, case in zip(axes.flat, cases):
        t = table[table["case"] == case].copy()
        t["shape"] = t["scenario"] + "\nb" + t["batch"].astype(str) + " " + t["seq"].astype(str)
        shapes = list(dict.fromkeys(t["shape"]))
        width = 0.38
        for i, (mode, colour) in enumerate((("heads", "tab:blue"), ("head_dims", "tab:orange"))):
            m = t[t["mode"] == mode].set_index("shape").reindex(shapes)
            xs = [j + (i - 0.5) * width for j in range(len(shapes))]
            ax.bar(xs, m["speedup"], width, color=colour, label=f"{mode} measured",
                   yerr=[m["speedup"] - m["q25"], m["q75"] - m["speedup"]], capsize=2)
            ax.scatter(xs, m["ideal (FLOPs)"], marker="_", s=200, color="black", zorder=3,
                       label="ideal (FLOPs)" if i == 0 else None)
        ax.axhline(1.0, color="#999", linewidth=0.8)
        ax.set_xticks(range(len(shapes)))
        ax.set_xticklabels(shapes, fontsize=7)
        ax.set_title(f"{case}, ratio {t['ratio'].iloc[0]:g}", fontsize=10)
        ax.set_ylabel("speedup vs dense")
    axes.flat[0].legend(fontsize=7)
    fig.tight_layout()
    return _svg(fig)


# -- page -------------------------------------------------------------------------------------

def _table_html(table: pd.DataFrame) -> str:
    if table.empty:
        return "<p class='note'>not measured in this run</p>"
    return table.style.hide(axis="index").format(precision=3, na_rep="").to_html()


def _machine(df: pd.DataFrame) -> str:
    first = df.iloc[0]
    machine = ", ".join(f"{k} {v}" for k, v in first["machine"].items())
    versions = ", ".join(f"{k} {v}" for k, v in first["versions"].items())
    return (f"<p class='note'>device: {html.escape(str(first['device']))}; machine: {html.escape(machine)}; "
            f"versions: {html.escape(versions)}; git {html.escape(str(first['git_rev']))}; "
            f"measured {html.escape(str(df['time'].min()))} to {html.escape(str(df['time'].max()))}; "
            f"timer: {html.escape(str(first.get('timer', '')))}</p>")


def render(df: pd.DataFrame, title: str) -> str:
    parts = [f"<h1>{html.escape(title)}</h1>", _machine(df),
             "<p class='note'>Random weights at each family's shape. Every speedup is a per-round ratio of dense "
             "and pruned timed side by side (round-robin over all variants of a family), summarised as median "
             "[q25, q75]; ideal is the FLOP ratio (torch.utils.flop_counter). Ratio requests use headprune's "
             "default rounding (kept widths multiples of 8). LLMs: decoder layers only.</p>"]
    fam = speedup_table(df)
    parts += ["<h2>Headline: ratio 0.5</h2>", _table_html(headline(df))]
    parts += ["<h2>Speedup against ratio, per family and mode (measured vs ideal)</h2>"]
    if not fam.empty:
        parts.append(plot_speedups(fam))
    parts += [_table_html(fam)]
    shapes = df[(df["suite"] == "families") & (df["metric"] == "latency_ms") & (df["mode"] == "dense")]
    if not shapes.empty:
        parts.append("<p class='note'>Shapes: " + "; ".join(
            f"{html.escape(c)}: {html.escape(s)}" for c, s in zip(shapes["case"], shapes["shape"])) + "</p>")
    al = alignment_table(df)
    parts += ["<h2>head_dim alignment (explicit dims, no rounding)</h2>"]
    if not al.empty:
        parts += [plot_alignment(al)]
    parts += [_table_html(al)]
    llm = speedup_table(df, "llm")
    parts += ["<h2>LLM prefill vs decode</h2>"]
    if not llm.empty:
        parts.append(plot_prefill_decode(llm))
    parts += [_table_html(llm)]
    ps = prune_speed_table(df)
    parts += ["<h2>Pruning speed and memory</h2>"]
    note = df[df["suite"] == "prune_speed"]
    if not note.empty:
        parts.append(f"<p class='note'>{html.escape(str(note['case'].iloc[0]))} fp32, removing half of the kv "
                     "groups in every layer; each method on a fresh model, methods round-robin; x floor and "
                     "Torch-Pruning / this are per-round ratios (median). Peak memory: peak resident memory "
                     "during the call over the model's size.</p>")
    parts += [_table_html(ps)]
    return (f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
            f"<style>{PAGE_CSS}</style></head><body>{''.join(parts)}</body></html>")


def write(jsonl: Path, out: Path, title: str | None = None, *more: Path) -> Path:
    df = load(jsonl, *more)
    out.write_text(render(df, title or f"headprune benchmark: {jsonl.stem}"), encoding="utf-8")
    return out


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m reports.bench", description=__doc__.strip().splitlines()[0])
    ap.add_argument("jsonl", type=Path, nargs="+", help="one or more results files (one page)")
    ap.add_argument("--out", type=Path, default=None, help="HTML file (default: beside the first .jsonl)")
    ap.add_argument("--title", default=None)
    args = ap.parse_args(argv)
    first, *more = args.jsonl
    out = write(first, args.out or first.with_suffix(".html"), args.title, *more)
    print(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
