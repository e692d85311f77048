"""The conformance checks, as plain functions of a Trial (no pytest needed).

``CHECKS`` maps each check name to its :class:`Check`; importing this package registers them.
"""
from . import equivalence, lifecycle, structure, sync, untouched  # noqa: F401  (registration)
from . import guard
from .base import CHECKS, Check, CheckFailure, CheckSkipped, Trial

__all__ = ["CHECKS", "Check", "CheckFailure", "CheckSkipped", "Trial", "guard"]
