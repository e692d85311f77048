"""Plain HTML pages from pandas tables (pandas Styler; no scripts, opens in any browser)."""
from __future__ import annotations

import html
from pathlib import Path

import pandas as pd

CSS = """
body { font-family: system-ui, sans-serif; margin: 2em; }
table { border-collapse: collapse; font-size: 0.9em; }
th, td { border: 1px solid #ccc; padding: 0.25em 0.6em; text-align: right; }
th { background: #f3f3f3; }
"""


def write_page(path: Path, title: str, table: pd.DataFrame, *, highlight: dict[str, float] | None = None) -> Path:
    """A standalone page; cells in ``highlight`` columns above their threshold are marked."""
    styler = table.style.hide(axis="index").format(precision=3)
    for column, limit in (highlight or {}).items():
        if column in table:
            styler = styler.format({column: "{:.1e}"}).map(
                lambda v, limit=limit: "background-color: #fdd" if v > limit else "", subset=[column])
    body = styler.to_html()
    page = (f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
            f"<style>{CSS}</style></head><body><h1>{html.escape(title)}</h1>{body}</body></html>")
    path.write_text(page, encoding="utf-8")
    return path
