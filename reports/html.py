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


OUTCOME_COLOURS = {"passed": "#d8f0d8", "failed": "#f6c6c6", "error": "#f6c6c6", "timeout": "#f3b0b0",
                   "xpassed": "#f6c6c6", "xfailed": "#fbe9c6", "skipped": "#e8e8e8", "unsupported": "#dde4f3",
                   "regression": "#f6c6c6", "stale declaration": "#fbe9c6", "fixed": "#d8f0d8",
                   "faster": "#d8f0d8", "new": "#dde4f3", "missing": "#e8e8e8"}


def _colour(value) -> str:
    colour = OUTCOME_COLOURS.get(str(value).split(" ")[0]) or OUTCOME_COLOURS.get(str(value))
    return f"background-color: {colour}" if colour else ""


def write_sections(path: Path, title: str, sections, *, verdict_colours: bool = False) -> Path:
    """A standalone page of headed sections, each a table or a line of text; with ``verdict_colours``
    cells holding an outcome or verdict (``passed``, ``regression``, ...) are coloured."""
    parts = [f"<h1>{html.escape(title)}</h1>"]
    for heading, content in sections:
        parts.append(f"<h2>{html.escape(heading)}</h2>")
        if isinstance(content, pd.DataFrame):
            styler = content.style.hide(axis="index").format(precision=3, na_rep="", escape="html")
            if verdict_colours:
                styler = styler.map(_colour)
            parts.append(styler.to_html())
        else:
            parts.append(f"<p>{html.escape(str(content))}</p>")
    page = (f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
            f"<style>{CSS}td {{ text-align: left; }}</style></head><body>{''.join(parts)}</body></html>")
    path.write_text(page, encoding="utf-8")
    return path
