"""The benchmark pipeline end to end on tiny shapes, in seconds: rows are well formed and the page renders.

Speeds are not checked here (they mean nothing at these sizes); the real runs are
``python -m suites.benchmarks`` and the ``benchmark``-marked tests.
"""
from __future__ import annotations

import json
import math

from suites.benchmarks.__main__ import main
from suites.benchmarks.rows import REQUIRED

METRICS = {"latency_ms", "throughput", "speedup", "flops", "ideal_speedup", "params", "peak_memory_mb"}


def test_smoke_run_writes_well_formed_rows_and_a_page(tmp_path):
    out = tmp_path / "smoke"
    assert main(["--config", "smoke", "--suites", "families,alignment,llm", "--out", str(out)]) == 0
    rows = [json.loads(line) for line in out.with_suffix(".jsonl").read_text().splitlines()]
    for row in rows:
        assert set(REQUIRED) <= set(row), set(REQUIRED) - set(row)
        assert row["kind"] == "benchmark" and row["n"] == len(row["samples"]) >= 1
        assert all(math.isfinite(v) for v in row["samples"]) and row["min"] <= row["median"]
        assert row["q25"] <= row["median"] <= row["q75"]
        assert row["device"].startswith("cpu") and row["versions"]["torch"] and row["git_rev"]
    by = {}
    for row in rows:
        by.setdefault((row["suite"], row["case"], row["scenario"], row.get("batch"), row.get("seq"), row["mode"],
                       row["ratio"]), set()).add(row["metric"])
    assert all(metrics == METRICS for metrics in by.values()), by
    families = {(s, c, m, r) for s, c, _, _, _, m, r in by if s == "families"}
    assert families == {("families", case, mode, ratio) for case in ("vit-tiny", "llama-tiny")
                        for mode, ratio in (("dense", None), ("heads", 0.5), ("head_dims", 0.5))}
    assert {sc for s, _, sc, *_ in by if s == "llm"} == {"decode"}  # (prefill: the families rows)
    kept = sorted({r["kept_dims"] for r in rows if r["suite"] == "alignment"})
    assert kept == [56, 60, 64]
    # pruning does what it says: fewer FLOPs and parameters than dense, and the dense row's speedup is 1
    flops = {(r["case"], r["mode"]): r["median"] for r in rows if r["suite"] == "families" and r["metric"] == "flops"}
    assert flops[("vit-tiny", "heads")] < flops[("vit-tiny", "dense")]
    assert all(r["median"] == 1.0 for r in rows if r["metric"] == "speedup" and r["mode"] == "dense")
    assert all(r["sdpa_backend"] in ("flash (cpu)", "math") for r in rows)
    page = out.with_suffix(".html").read_text()
    assert page.count("<svg") == 3 and "vit-tiny" in page and "Headline" in page
