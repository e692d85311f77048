"""Expected failures a pruner declares (like array-api-tests' xfails files).

Sources: the pruner's ``expected_failures`` mapping and ``--xfails-file`` (one
``pattern  # reason`` per line). A pattern is an fnmatch glob over a test's id
(``llama-gqa-heads-check_generate``) or its check name (``check_generate``).
"""
from __future__ import annotations

import fnmatch
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Expectation:
    pattern: str
    reason: str
    source: str

    def matches(self, test_id: str, check_name: str) -> bool:
        return fnmatch.fnmatchcase(test_id, self.pattern) or fnmatch.fnmatchcase(check_name, self.pattern)


def from_pruner(pruner) -> list[Expectation]:
    declared = getattr(pruner, "expected_failures", None) or {}
    return [Expectation(p, r, f"{getattr(pruner, 'name', 'pruner')}.expected_failures")
            for p, r in sorted(declared.items())]


def from_file(path: str | Path) -> list[Expectation]:
    out = []
    for n, line in enumerate(Path(path).read_text().splitlines(), 1):
        text, _, reason = line.partition("#")
        if text.strip():
            out.append(Expectation(text.strip(), reason.strip() or "listed in xfails file", f"{path}:{n}"))
    return out


def first_match(expectations, test_id: str, check_name: str) -> Expectation | None:
    return next((e for e in expectations if e.matches(test_id, check_name)), None)
