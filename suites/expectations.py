"""Expected failures a pruner declares (like array-api-tests' xfails files).

Sources: the pruner's ``expected_failures`` mapping and ``--xfails-file`` (one
``pattern  # reason`` per line). A pattern is either

* one fnmatch glob over a test's id (``llama-gqa-heads-check_generate``, ``phi3*-check_save_load``)
  or its check name (``check_generate``), or
* ``field=glob`` terms separated by spaces, all of which must match, over the fields ``case``,
  ``family``, ``scenario``, ``mode``, ``check`` and ``id``:
  ``family=phi3 scenario=head_dims* check=check_generate``.
"""
from __future__ import annotations

import fnmatch
from dataclasses import dataclass
from pathlib import Path

FIELDS = ("case", "family", "scenario", "mode", "check", "id")


class BadPattern(ValueError):
    pass


def parse(pattern: str) -> tuple[tuple[str, str], ...] | None:
    """``field=glob`` terms of a pattern (None: a plain glob over the id or the check name)."""
    if "=" not in pattern:
        return None
    terms = []
    for term in pattern.split():
        field, sep, glob = term.partition("=")
        if not sep or field not in FIELDS or not glob:
            raise BadPattern(f"expected-failure pattern {pattern!r}: {term!r} is not field=glob "
                             f"with a field among {FIELDS}")
        terms.append((field, glob))
    return tuple(terms)


@dataclass(frozen=True)
class Expectation:
    pattern: str
    reason: str
    source: str

    def __post_init__(self):
        parse(self.pattern)  # refuse a malformed pattern when it is declared, not when it fails to match

    def matches(self, fields: dict) -> bool:
        """``fields``: the test's ``id``, ``check``, ``case``, ``family``, ``scenario`` and ``mode``."""
        terms = parse(self.pattern)
        if terms is None:
            return any(fnmatch.fnmatchcase(str(fields.get(k) or ""), self.pattern) for k in ("id", "check"))
        return all(fnmatch.fnmatchcase(str(fields.get(k) or ""), glob) for k, glob in terms)


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


def first_match(expectations, fields: dict) -> Expectation | None:
    return next((e for e in expectations if e.matches(fields)), None)
