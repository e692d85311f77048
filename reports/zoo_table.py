"""The main job: prune every zoo model with the reference pruner and tabulate the result.

    python -m reports.zoo_table [--ratio 0.5] [--out results/zoo]

Ratios are exact (``multiple_of=1``: the zoo's head_dim is 8, which the default rounding to
multiples of 8 would leave whole). For every case and both modes: heads per layer before/after, head_dim, parameters
before/after, the max deviation from the masking oracle (eager and sdpa, padded batch), and
the time to prune and to build the zoo model (measured, not asserted: the zoo promises
builds in well under a second).
Writes ``<out>.jsonl`` and ``<out>.html`` beside the printed table.
"""
from __future__ import annotations

import argparse
import copy
import sys
import time
import warnings
from pathlib import Path

import pandas as pd

import headprune
import models
from suites.checks.base import deviation, logits
from suites.checks.oracle import survivors_oracle
from suites.checks.survivors import identify
from suites.scenarios import inexact_by_design

from .html import write_page

# The zoo's heads are 8 dims wide: the default alignment (multiple_of=8) would keep all 8 in
# head_dims mode, so the main job asks for the exact ratio semantics the suite checks.
MULTIPLE_OF = 1


def _deviation(case, original, pruned) -> float:
    oracle = survivors_oracle(original, identify(original, pruned))
    worst = 0.0
    inputs = case.make_inputs(batch=2, seq_len=7, pad=2, seed=1)
    for backend in models.available_backends(case):
        a, b = copy.deepcopy(pruned), copy.deepcopy(oracle)
        models.set_attention_backend(a, backend)
        models.set_attention_backend(b, backend)
        err, _ = deviation(case, logits(case, a, inputs), logits(case, b, inputs), inputs)
        worst = max(worst, err)
    return worst


def _build_ms(case) -> float:
    """Time of an uncached build (the first, which also pays the lazy imports, is not counted)."""
    from models.registry import _build_uncached

    _build_uncached(case)
    start = time.perf_counter()
    _build_uncached(case)
    return round((time.perf_counter() - start) * 1e3, 1)


def run(ratio: float) -> pd.DataFrame:
    rows = []
    for case in models.cases():
        build_ms = _build_ms(case)
        for mode in ("heads", "head_dims"):
            if case.refusal(mode):  # headprune refuses it, with the reason (tests/test_families.py)
                rows.append({"case": case.name, "family": case.family, "mode": mode, "exact": "refused",
                             "build ms": build_ms})
                continue
            original = models.build(case)
            pruned = copy.deepcopy(original)
            inexact = inexact_by_design(case, mode)
            start = time.perf_counter()
            report = headprune.prune(pruned, ratio=ratio, mode=mode, allow_inexact=inexact is not None,
                                     multiple_of=MULTIPLE_OF)
            seconds = time.perf_counter() - start
            rows.append({
                "case": case.name, "family": case.family, "mode": mode,
                "heads before": "/".join(str(lr.heads_before) for lr in report.layers),
                "heads after": "/".join(str(lr.heads_after) for lr in report.layers),
                "kv after": "/".join(str(lr.kv_heads_after) for lr in report.layers),
                "head_dim": f"{report.layers[0].head_dim_before}->{report.layers[0].head_dim_after}",
                "params before": report.params_before, "params after": report.params_after,
                "max |dev|": _deviation(case, original, pruned),
                "exact": "no (by design)" if inexact else "yes",
                "prune ms": round(seconds * 1e3, 1),
                "build ms": build_ms,
            })
    # refused rows have no counts: nullable integers keep the others integral
    return pd.DataFrame(rows).astype({"params before": "Int64", "params after": "Int64"})


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m reports.zoo_table", description=__doc__.strip().splitlines()[0])
    ap.add_argument("--ratio", type=float, default=0.5)
    ap.add_argument("--out", default="results/zoo", help="path stem for .jsonl and .html")
    args = ap.parse_args(argv)
    warnings.filterwarnings("ignore")
    table = run(args.ratio)
    with pd.option_context("display.width", 200, "display.max_columns", 20):
        shown = table.astype(object).fillna("-")  # refused rows have no figures
        print(shown.to_string(index=False, formatters={"max |dev|": lambda v: v if v == "-" else f"{v:.1e}"}))
    exact = table[table["exact"] == "yes"]
    print(f"\n{len(table)} prunes (ratio {args.ratio}, multiple_of={MULTIPLE_OF}: exact ratio semantics); "
          f"exact ones deviate at most {exact['max |dev|'].max():.1e} from the oracle")
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.with_suffix(".jsonl").write_text(table.to_json(orient="records", lines=True))  # missing -> null
    write_page(out.with_suffix(".html"), f"headprune zoo, ratio {args.ratio}", table,
               highlight={"max |dev|": 1e-5})
    print(f"wrote {out.with_suffix('.jsonl')} and {out.with_suffix('.html')}")
    bad = exact[exact["max |dev|"] > 1e-5]
    return 1 if len(bad) else 0


if __name__ == "__main__":
    sys.exit(main())
