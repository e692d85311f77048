"""The README's supported-layouts table is the one generated from the descriptions and the zoo."""
from __future__ import annotations

from reports import layouts


def test_readme_table_matches_the_descriptions():
    text = layouts.README.read_text()
    found = layouts.readme_table(text)
    assert found is not None, f"README.md lost its {layouts.BEGIN} ... {layouts.END} markers"
    assert found == layouts.table(), "README.md's layouts table is stale: run python -m reports.layouts --write"


def test_every_family_has_a_row_with_both_statuses():
    rows = layouts.table().splitlines()[2:]
    assert len(rows) == len(layouts.FAMILIES)
    for fam, row in zip(layouts.FAMILIES, rows):
        cells = [c.strip() for c in row.strip("|").split("|")]
        assert cells[0] == fam.name and cells[4] and cells[5], row
