"""Deadlines on the pruner under test, so a hung or runaway pruner fails its test and the run goes on.

* Every call into the pruner (prune, save, load) runs under :func:`deadline`: a call that has
  not returned after ``timeout_s`` seconds is interrupted by ``SIGALRM`` with
  :class:`PrunerTimeout` ("... timed out after N s"). This works in pytest-xdist workers, which
  run tests in their main thread; elsewhere (another thread, no SIGALRM) calls run unguarded.
* A property test spends at most ``property_budget_s`` seconds in total: hypothesis re-runs the
  pruner for every example and, after a failure, for every shrinking step, which against a
  broken pruner costs minutes. Past the budget the next pruner call raises
  :class:`BudgetExhausted`, carrying the first check failure seen.

Both are BaseExceptions: a pruner's own ``except Exception`` cannot swallow them, and
hypothesis re-raises them at once instead of shrinking. The plugin sets the numbers
(``--pruner-timeout``, ``--property-budget``) and opens a budget around each property test.
"""
from __future__ import annotations

import signal
import threading
import time
from contextlib import contextmanager

DEFAULT_TIMEOUT_S = 20.0
DEFAULT_PROPERTY_BUDGET_S = 60.0

timeout_s: float = DEFAULT_TIMEOUT_S   # 0 disables the deadline
_budget: dict | None = None           # the open property budget: {"until", "seconds", "first_failure", "calls"}


class PrunerTimeout(BaseException):
    """A pruner call did not return in time."""


class BudgetExhausted(BaseException):
    """A property test used up its time budget."""


def _can_alarm() -> bool:
    return hasattr(signal, "setitimer") and threading.current_thread() is threading.main_thread()


@contextmanager
def deadline(what: str, seconds: float | None = None):
    """Run the body with a deadline of ``seconds`` (default: the configured ``timeout_s``)."""
    _spend_budget(what)
    seconds = timeout_s if seconds is None else seconds
    if not seconds or not _can_alarm():
        yield
        return

    def on_alarm(signum, frame):
        raise PrunerTimeout(f"{what} timed out after {seconds:g} s")

    previous = signal.signal(signal.SIGALRM, on_alarm)
    signal.setitimer(signal.ITIMER_REAL, seconds)
    try:
        yield
    except PrunerTimeout as exc:
        # A fresh exception: the interrupted frames can carry no line number, which breaks pytest's
        # traceback formatting (and with it the xdist controller); where it hung goes into the message.
        raise PrunerTimeout(f"{exc} (in {_innermost(exc.__traceback__)})") from None
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, previous)


def _innermost(tb) -> str:
    while tb is not None and tb.tb_next is not None and tb.tb_next.tb_frame.f_code.co_name != "on_alarm":
        tb = tb.tb_next
    if tb is None:
        return "?"
    code = tb.tb_frame.f_code
    parts = code.co_filename.replace("\\", "/").split("/")
    where = "/".join(parts[-3:])
    line = tb.tb_frame.f_lineno
    return f"{code.co_name}, {where}" + (f":{line}" if line is not None else "")


@contextmanager
def property_budget(seconds: float):
    """Bound the pruner calls made inside the body to ``seconds`` of wall time in total."""
    global _budget
    _budget = {"until": time.monotonic() + seconds, "seconds": seconds, "first_failure": None, "calls": 0} \
        if seconds else None
    try:
        yield
    finally:
        _budget = None


def note_failure(message: str) -> None:
    """Remember the first check failure inside an open budget (reported if the budget runs out)."""
    if _budget is not None and _budget["first_failure"] is None:
        _budget["first_failure"] = message.splitlines()[0][:300] if message else "?"


def _spend_budget(what: str) -> None:
    if _budget is None:
        return
    _budget["calls"] += 1
    if time.monotonic() > _budget["until"]:
        first = _budget["first_failure"]
        found = f"; first failure seen: {first}" if first else "; no check had failed yet (a slow pruner)"
        raise BudgetExhausted(f"property budget of {_budget['seconds']:g} s spent after {_budget['calls'] - 1} "
                              f"pruner calls (hypothesis was still generating or shrinking){found}")
