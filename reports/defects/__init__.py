"""Defects the conformance suite found in third-party pruners, each with a standalone repro
script beside this file and a paragraph in README.md here. Listed on the conformance page."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Defect:
    pruner: str       # the pruner name in the results
    title: str        # what breaks, in one sentence
    check: str        # the check (or outcome) that caught it
    smallest: str     # the smallest zoo model that shows it
    script: str       # standalone repro, relative to the repository root


DEFECTS: tuple[Defect, ...] = ()
