"""The results history, compare and the drift page (reports/history.py, compare.py, drift.py)."""
from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest

from reports import compare, drift, history

REPO = Path(__file__).resolve().parent.parent
VERSIONS = {"python": "3.11", "torch": "2.14.1", "transformers": "5.24.0", "timm": "1.0.31", "hypothesis": "6"}


def conformance_rows(pruner="headprune", versions=VERSIONS, **outcomes) -> list[dict]:
    """A small conformance results file: three cases x two scenarios x two checks, all passed
    unless ``outcomes`` says otherwise (test id -> outcome)."""
    rows = []
    for case, family in (("vit", "vit"), ("llama-gqa", "llama"), ("swin", "swin")):
        for scenario in ("heads", "head_dims"):
            for check in ("check_shapes", "check_generate"):
                test = f"{case}-{scenario}-{check}"
                outcome = outcomes.get(test.replace("-", "_"), "passed")
                rows.append({"pruner": pruner, "pruner_version": "1.0", "case": case, "family": family,
                             "mode": scenario, "scenario": scenario, "check": check, "outcome": outcome,
                             "reason": "" if outcome == "passed" else f"{outcome} here", "duration": 0.01,
                             "nodeid": f"suites/x.py::t[{test}]", "versions": dict(versions),
                             "time": "2026-11-29T03:00:00"})
    return rows


def write(path: Path, rows: list[dict]) -> Path:
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return path


def bench_row(samples, metric="latency_ms", unit="ms", **key) -> dict:
    s = sorted(samples)
    q = lambda f: s[round(f * (len(s) - 1))]  # noqa: E731 (nearest-rank quartiles are enough here)
    return {"kind": "benchmark", "suite": "speed", "family": "vit", "case": "vit-b16", "mode": "heads",
            "ratio": 0.5, "scenario": "forward", "metric": metric, "unit": unit, "median": q(0.5),
            "q25": q(0.25), "q75": q(0.75), "min": s[0], "n": len(s), "samples": list(samples),
            "device": "cpu", "machine": "box", "versions": VERSIONS, "git_rev": "abc", "time": "2026-11-29T03:00:00",
            **key}


# --- the store -----------------------------------------------------------------------------------

def test_add_stores_one_run_per_subject_and_is_idempotent(tmp_path):
    rows = conformance_rows() + conformance_rows(pruner="torch-pruning", vit_heads_check_shapes="failed")
    results = write(tmp_path / "r.jsonl", rows)
    first = history.add(results, "tf524", tmp_path / "h", git_rev="abc123")
    assert [run.subject for run, _, new in first] == ["headprune", "torch-pruning"]
    assert all(new for *_, new in first)
    again = history.add(results, "tf524", tmp_path / "h", git_rev="abc123")
    assert [new for *_, new in again] == [False, False]
    assert len(list((tmp_path / "h" / "runs").glob("*.jsonl"))) == 2

    stored = history.load(first[1][1])
    h = stored.header
    assert (h["label"], h["subject"], h["git_rev"], h["pruners"]) == ("tf524", "torch-pruning", "abc123",
                                                                       {"torch-pruning": "1.0"})
    assert h["versions"]["transformers"] == "5.24.0" and h["counts"] == {"failed": 1, "passed": 11}
    # the rows come back as they went in, less what is noise (duration, nodeid) or in the header
    want = {history.row_key(r): r for r in rows if r["pruner"] == "torch-pruning"}
    for key, row in stored.by_key().items():
        for field in ("pruner", "pruner_version", "case", "family", "mode", "scenario", "check", "outcome"):
            assert row[field] == want[key][field]
    assert len(stored.rows) == len(want)


def test_add_refuses_an_empty_results_file_and_a_bad_label(tmp_path):
    with pytest.raises(ValueError, match="becomes part of a file name"):
        history.add(write(tmp_path / "r.jsonl", conformance_rows()), "../x", tmp_path / "h")
    with pytest.raises(ValueError, match="no results rows"):
        history.add(write(tmp_path / "empty.jsonl", []), "tf524", tmp_path / "h")
    assert not (tmp_path / "h").exists()


def test_resolve_by_label_id_prefix_and_baseline(tmp_path):
    root = tmp_path / "h"
    history.add(write(tmp_path / "a.jsonl", conformance_rows()), "tf518", root, git_rev="a")
    history.add(write(tmp_path / "b.jsonl", conformance_rows()), "tf524", root, git_rev="b")
    (run_id,) = [h["id"] for h in history.headers(root) if h["label"] == "tf518"]
    assert history.resolve(run_id[:20], root).id == run_id
    assert history.resolve("tf518", root).id == run_id
    with pytest.raises(LookupError, match="no baseline"):
        history.resolve("baseline:tf518", root)
    history.set_baseline(["tf518"], root)
    assert history.resolve("baseline", root, label="tf518").rows == history.resolve(run_id, root).rows
    with pytest.raises(LookupError, match="is no file, stored run id or label"):
        history.resolve("tf999", root)


# --- compare: checks -----------------------------------------------------------------------------

@pytest.mark.parametrize("base, new, verdict", [
    ("passed", "passed", None), ("passed", "failed", "regression"), ("passed", "error", "regression"),
    ("passed", "timeout", "regression"), ("skipped", "failed", "regression"), ("xfailed", "passed", "stale declaration"),
    ("xfailed", "xpassed", "stale declaration"), ("failed", "passed", "fixed"), ("failed", "failed", None),
    ("xfailed", "failed", "changed"), ("passed", "skipped", "changed"), ("passed", "unsupported", "changed"),
    (None, "failed", "new"), ("passed", None, "missing")])
def test_check_verdicts(base, new, verdict):
    assert compare.check_verdict(base, new) == verdict


def test_planted_regression_is_reported_and_exits_nonzero(tmp_path):
    """A check made to fail in one environment: compare names it, writes the page, exits 1."""
    root = tmp_path / "h"
    history.add(write(tmp_path / "good.jsonl", conformance_rows()), "tf524", root, git_rev="a")
    history.set_baseline(["tf524"], root)
    planted = write(tmp_path / "new.jsonl", conformance_rows(llama_gqa_heads_check_generate="failed"))
    page = tmp_path / "cmp.html"
    rc = compare.main(["baseline", str(planted), "--label", "tf524", "--root", str(root), "--html", str(page)])
    assert rc == 1
    text = page.read_text()
    assert "Checks: regression (1)" in text and "llama-gqa-heads-check_generate" in text

    cmp = compare.compare(history.resolve("tf524", root), history.load(planted))
    assert cmp.regressions == 1
    assert cmp.checks[["test", "base", "new", "verdict"]].values.tolist() == [
        ["llama-gqa-heads-check_generate", "passed", "failed", "regression"]]


def test_stale_declaration_new_and_missing_do_not_gate(tmp_path):
    base = history.make_runs(conformance_rows(vit_heads_check_shapes="xfailed"), label="a", git_rev="a")[0]
    rows = [r for r in conformance_rows() if r["case"] != "swin"]
    rows.append({**rows[0], "case": "qwen3", "family": "qwen3"})
    new = history.make_runs(rows, label="b", git_rev="a")[0]
    cmp = compare.compare(base, new)
    assert cmp.regressions == 0
    assert (cmp.count("stale declaration"), cmp.count("missing"), cmp.count("new")) == (1, 4, 1)
    assert compare.main([str(write(tmp_path / "b.jsonl", rows)), str(write(tmp_path / "a.jsonl", rows)),
                         "--html", ""]) == 0


def test_other_pruners_are_named_not_compared():
    base = history.make_runs(conformance_rows() + conformance_rows(pruner="tp"), label="a", git_rev="a")
    new = history.make_runs(conformance_rows(vit_heads_check_shapes="failed"), label="b", git_rev="a")[0]
    cmp = compare.compare(history.merge(base, "both"), new)
    assert cmp.unmatched_subjects == ["tp"] and cmp.regressions == 1 and cmp.compared_tests == 12


def test_two_runs_of_the_same_code_compare_clean(tmp_path):
    """The real suite, run twice on a few tests with the same code, stores two runs that compare clean."""
    outs = []
    for name in ("first", "second"):
        out = tmp_path / f"{name}.jsonl"
        proc = subprocess.run([sys.executable, "-m", "pytest", "suites/conformance", "-q", "-p", "no:xdist",
                               "-p", "no:cacheprovider", "-k", "vit-heads-check and not timm", "--results", str(out)],
                              cwd=REPO, capture_output=True, text=True, timeout=300, env=_child_env())
        assert proc.returncode == 0, proc.stdout[-2000:] + proc.stderr[-2000:]
        outs.append(out)
    runs = [history.add(out, "same", tmp_path / "h", git_rev="rev")[0][0] for out in outs]
    assert runs[0].header["rows"] >= 10 and runs[0].header["counts"] == {"passed": runs[0].header["rows"]}
    # two runs, stored as two, with the same content digest (the id's last part)
    assert runs[0].id != runs[1].id and runs[0].id.rsplit("-", 1)[1] == runs[1].id.rsplit("-", 1)[1]
    assert compare.main([str(outs[0]), str(outs[1]), "--html", ""]) == 0
    assert compare.compare(history.load(outs[0]), history.load(outs[1])).checks.empty


def _child_env() -> dict:
    """This environment less what would make the child pytest think it is an xdist worker."""
    return {**{k: v for k, v in os.environ.items() if not k.startswith("PYTEST_")}, "CI": "true"}


# --- compare: benchmark figures ------------------------------------------------------------------

def test_mann_whitney_matches_the_textbook_value():
    # U = 0 for two fully separated samples of 5: z = (12.5 - 0.5) / sqrt(25 * 11 / 12) = 2.5067
    assert compare.mann_whitney_p([1, 2, 3, 4, 5], [6, 7, 8, 9, 10]) == pytest.approx(0.012186, abs=1e-5)
    assert compare.mann_whitney_p([1, 2, 3], [1, 2, 3]) == pytest.approx(1.0)
    assert compare.mann_whitney_p([2, 2, 2, 2], [2, 2, 2, 2]) == 1.0


@pytest.mark.parametrize("new_samples, metric, verdict", [
    ([10.0, 10.2, 9.9, 10.1, 10.0, 9.8], "latency_ms", None),                 # the same distribution
    ([12.0, 12.3, 11.9, 12.1, 12.2, 11.8], "latency_ms", "regression"),       # 20% slower, spreads apart
    ([8.0, 8.1, 7.9, 8.2, 8.0, 7.8], "latency_ms", "faster"),
    ([10.4, 10.45, 10.35, 10.4, 10.5, 10.38], "latency_ms", None),            # apart, but a 4% effect
    ([6.0, 14.0, 9.0, 16.0, 7.0, 15.0], "latency_ms", None),                  # median +20%, but noisy
    ([12.0, 12.3, 11.9, 12.1, 12.2, 11.8], "throughput_items_per_s", "faster"),
])
def test_benchmark_moves_are_judged_from_the_spread(new_samples, metric, verdict):
    base = bench_row([10.0, 10.1, 9.9, 10.2, 9.8, 10.0], metric=metric)
    new = bench_row(new_samples, metric=metric)
    got, change, p = compare.figure_verdict(base, new, min_effect=0.05, alpha=0.05)
    assert got == verdict
    assert math.isfinite(change) and (p is None or 0 <= p <= 1)


def test_benchmark_regression_gates_and_configurations_are_matched(tmp_path):
    base = [bench_row([10, 10.1, 9.9, 10.2, 9.8], ratio=r) for r in (0.25, 0.5)]
    new = [bench_row([10, 10.1, 9.9, 10.2, 9.8], ratio=0.25), bench_row([13, 13.1, 12.9, 13.2, 12.8], ratio=0.5),
           bench_row([5.0], ratio=0.75)]
    a, b = write(tmp_path / "a.jsonl", base), write(tmp_path / "b.jsonl", new)
    cmp = compare.compare(history.load(a), history.load(b), alpha=0.05)
    moved = cmp.benchmarks.set_index("figure")["verdict"]
    assert moved.str.contains("regression").sum() == 1 and moved[moved == "regression"].index[0].count("ratio=0.5")
    assert (moved == "new").sum() == 1
    assert compare.main([str(a), str(b), "--html", str(tmp_path / "c.html"), "--alpha", "0.05"]) == 1
    assert compare.main([str(a), str(a), "--html", ""]) == 0


# --- the drift page ------------------------------------------------------------------------------

def test_drift_page_orders_releases_and_names_the_first_flip(tmp_path):
    root = tmp_path / "h"
    for label, tf, outcomes in (("tf524", "5.24.0", {}), ("tf457", "4.57.6", {}),
                                ("tf518", "5.18.0", {"swin_heads_check_shapes": "failed"})):
        versions = {**VERSIONS, "transformers": tf}
        history.add(write(tmp_path / f"{label}.jsonl", conformance_rows(versions=versions, **outcomes)), label, root,
                    git_rev="r")
    frame, hs = drift.load_matrix(root=root)
    assert drift.release_order(hs) == ["tf457", "tf518", "tf524"]
    page = drift.write_page(tmp_path / "drift.html", root=root).read_text()
    assert "tf518: passed -&gt; failed; tf524: failed -&gt; passed" in page
    assert "Tests whose outcome differs between environments (1)" in page
    assert page.count("12/12") >= 2 and "11/12 (1 failed)" in page
