"""The conformance report page: every pruner, case and outcome of its results is on it, with reasons."""
from __future__ import annotations

import json
from html.parser import HTMLParser
from pathlib import Path

import pytest

from reports import conformance

REPO = Path(__file__).resolve().parents[1]
COMMITTED_RESULTS = sorted((REPO / "reports" / "results").glob("*.jsonl"))
COMMITTED_PAGE = REPO / "reports" / "conformance.html"


class Page(HTMLParser):
    """Text of every table cell by table id, and every title attribute."""

    def __init__(self):
        super().__init__()
        self.tables: dict[str, list[str]] = {}
        self.titles: list[str] = []
        self._table, self._cell = None, None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        if tag == "table":
            self._table = attrs.get("id", "?")
            self.tables.setdefault(self._table, [])
        if tag in ("td", "th"):
            self._cell = []
        if "title" in attrs:
            self.titles.append(attrs["title"])

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self._cell is not None and self._table:
            self.tables[self._table].append("".join(self._cell).strip())
            self._cell = None

    def handle_data(self, data):
        if self._cell is not None:
            self._cell.append(data)


def _parse(text: str) -> Page:
    page = Page()
    page.feed(text)
    return page


def _row(pruner, case, family, scenario, check, outcome, reason=""):
    return {"pruner": pruner, "pruner_version": "1", "pruner_spec": pruner, "case": case, "family": family,
            "mode": scenario.split("-")[0], "scenario": scenario, "check": check, "outcome": outcome,
            "reason": reason, "duration": 0.1, "nodeid": f"suites/conformance/test_conformance.py::"
            f"test_conformance[{case}-{scenario}-{check}]", "versions": {"torch": "2"}, "time": "2026-01-01T00:00:00"}


def _assert_page_shows(rows, text):
    page = _parse(text)
    counts = page.tables["counts"]
    pivot = page.tables["pivot"]
    details = " ".join(page.tables["details"])
    for r in rows:
        label = f"{r['pruner']} {r['pruner_version']}"
        assert label in counts, label
        assert r["case"] in pivot, r["case"]
        assert r["outcome"] in counts, r["outcome"]
        assert any(t.startswith(f"{label}: {r['outcome']}") for t in page.titles), (label, r["outcome"])
        if r["outcome"] in conformance.DETAILED:
            assert r["reason"][:40] in details, r["reason"]
        if r["outcome"] == "skipped":
            assert r["reason"] in page.tables["skips"]


def test_every_pruner_case_outcome_and_reason_is_on_the_page(tmp_path):
    rows = [_row("alpha", "llama", "llama", "heads", "check_shapes", "passed"),
            _row("alpha", "llama", "llama", "heads", "check_generate", "failed", "check_generate failed: boom"),
            _row("alpha", "vit", "vit", "heads", "check_shapes", "timeout", "PrunerTimeout: timed out after 20 s"),
            _row("beta", "vit", "vit", "heads", "check_shapes", "unsupported", "unsupported: no GQA groups"),
            _row("beta", "vit", "vit", "head_dims", "check_shapes", "skipped", "beta does not support mode"),
            _row("beta", "bert", "bert", "heads", "check_noop", "xfailed", "expected failure: known"),
            _row("beta", "bert", "bert", "heads", "check_dtype_device", "error", "setup broke <&>")]
    path = tmp_path / "r.jsonl"
    path.write_text("".join(json.dumps(r) + "\n" for r in rows))
    out = tmp_path / "page.html"
    assert conformance.main([str(path), "--out", str(out)]) == 0
    text = out.read_text()
    assert "<script" not in text and "http" not in text  # self-contained
    _assert_page_shows(rows, text)
    assert "setup broke &lt;&amp;&gt;" in text
    assert "python -m suites.repro --pruner alpha llama heads check_generate" in text


@pytest.mark.skipif(not COMMITTED_RESULTS or not COMMITTED_PAGE.exists(), reason="no committed report")
def test_the_committed_page_shows_every_committed_result():
    rows = [json.loads(line) for p in COMMITTED_RESULTS for line in p.read_text().splitlines() if line.strip()]
    assert {r["pruner"] for r in rows} >= {"headprune", "torch-pruning", "hf-prune-heads"}
    _assert_page_shows(rows, COMMITTED_PAGE.read_text())
