"""The README's supported-layouts table, generated from the family descriptions and the zoo.

    python -m reports.layouts            # print the table
    python -m reports.layouts --write    # rewrite it in README.md (between the markers)

Each row is one ``Family``: the classes it describes, the zoo cases that exercise it (found by
running discovery on every zoo model), its traps (its notes) and what headprune does in each
mode, derived from the descriptors themselves. ``tests/test_layouts_table.py`` fails when the
README's copy differs, so the table cannot drift from the code.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import models
from headprune.blocks import discover
from headprune.families import FAMILIES, Family, other_release_env

BEGIN, END = "<!-- layouts:begin (python -m reports.layouts --write) -->", "<!-- layouts:end -->"
README = Path(__file__).resolve().parent.parent / "README.md"


def zoo_cases() -> dict[str, list[str]]:
    """Family name -> zoo cases that contain a block (or a refused module) it describes."""
    used: dict[str, list[str]] = {}
    for case in models.cases():
        blocks, refused = discover(models.build(case))
        for name in sorted({b.family.name for b in blocks} | {r.family.name for r in refused}):
            used.setdefault(name, []).append(case.name)
    return used


def heads_status(fam: Family) -> str:
    if fam.refuse:
        return "refused (reported as not pruned)"
    out = "exact"
    if fam.tie:
        out += "; tied blocks keep one head set"
    if fam.width_norm:
        out += f"; with `{fam.width_norm}` (over all heads): refused unless `allow_inexact`"
    return out


def head_dims_status(fam: Family) -> str:
    if fam.refuse:
        return "refused"
    if fam.fixed_head_dim:
        return "refused (layout not described)"
    parts = ["exact"]
    if fam.rope is not None:
        parts.append("whole RoPE pairs" + (" (2i, 2i+1)" if fam.rope.interleaved else "") + ", same in every layer")
    if not fam.scale_follows_head_dim:
        parts.append("no scale fold")
    if fam.qk_norms:
        parts.append(f"with `{'`/`'.join(fam.qk_norms)}`: refused unless `allow_inexact`")
    return "; ".join(parts)


def _short(cls: str) -> str:
    return cls.rsplit(".", 1)[-1]


def table() -> str:
    used = zoo_cases()
    lines = ["| family | classes | zoo cases | traps | heads | head_dims |", "|---|---|---|---|---|---|"]
    for fam in FAMILIES:
        cases = ", ".join(f"`{c}`" for c in used.get(fam.name, [])) or \
            f"(other releases: `tox -e {other_release_env(fam) or '?'}`)"
        traps = fam.refuse or fam.notes or "—"
        for req in fam.requires:  # a variant that does not meet them is refused, naming the condition
            traps += f" Needs `{req.path}` = {req.value!r}" + (f": {req.why}." if req.why else ".")
        classes = ", ".join(f"`{_short(c)}`" for c in fam.classes)
        if fam.where:
            classes += f" under `{fam.where.replace('|', '/')}`"
        lines.append(f"| {fam.name} | {classes} | {cases} | {traps.replace('|', '/')} | {heads_status(fam)} | "
                     f"{head_dims_status(fam)} |")
    return "\n".join(lines)


def readme_table(text: str) -> str | None:
    if BEGIN not in text or END not in text:
        return None
    return text.split(BEGIN, 1)[1].split(END, 1)[0].strip("\n")


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help="rewrite the table in README.md")
    args = parser.parse_args(argv)
    new = table()
    if not args.write:
        print(new)
        return 0
    text = README.read_text()
    if readme_table(text) is None:
        print(f"{README} has no {BEGIN} ... {END} markers", file=sys.stderr)
        return 1
    head, rest = text.split(BEGIN, 1)
    README.write_text(f"{head}{BEGIN}\n{new}\n{END}{rest.split(END, 1)[1]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
