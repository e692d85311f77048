"""The check contract: a check is a plain function of a :class:`Trial` that raises
:class:`CheckFailure` (an AssertionError) when the pruner under test got something wrong.
No pytest here: checks run from pytest, from hypothesis, from the meta tests and from
``python -m suites.repro``.
"""
from __future__ import annotations

import copy
import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from functools import cached_property

import torch
from torch import nn

import models
from headprune.contract import PruneRequest, Unsupported
from models import Case

from . import guard


class CheckFailure(AssertionError):
    def __init__(self, *args):
        super().__init__(*args)
        guard.note_failure(str(args[0]) if args else "")


class CheckSkipped(Exception):
    """A check that cannot judge this trial because another check already reported the root cause
    (the pruner raised, pruned a copy, or its weights match nothing): one cause, one verdict."""


def fail_unless(condition: bool, message: str) -> None:
    if not condition:
        raise CheckFailure(message)


@dataclass(frozen=True)
class Check:
    name: str
    func: Callable[["Trial"], None]
    needs: frozenset[str] = frozenset()   # see Trial.unmet

    def __call__(self, trial: "Trial") -> None:
        try:
            self.func(trial)
        except (CheckFailure, CheckSkipped, Unsupported):
            raise  # Unsupported: the pruner declined this request, which is not a failure
        except Exception as exc:
            # The pruned model (or the pruner) broke while being checked: that is the verdict.
            raise CheckFailure(f"{type(exc).__name__} while checking: {exc}") from exc


CHECKS: dict[str, Check] = {}


def check(*needs: str):
    """Register ``check_*`` functions. ``needs``: conditions under which the check applies:
    ``explicit`` (the suite named the heads), ``ratio`` (the pruner chose), ``exact`` (exactness is possible by design),
    ``generative``, ``gqa``, ``save_load``, ``validates_requests``, ``rope``."""
    def register(func):
        assert func.__name__.startswith("check_"), func.__name__
        CHECKS[func.__name__] = Check(func.__name__, func, frozenset(needs))
        return func
    return register


@dataclass
class Trial:
    """One pruner run: the original zoo model, the request, and the pruned result."""

    case: Case
    pruner: object
    request: PruneRequest
    scenario_id: str = ""
    inexact_reason: str | None = None
    original: nn.Module = field(default=None, repr=False)  # never mutated

    def __post_init__(self):
        if self.original is None:
            self.original = models.build(self.case, "eager")

    def run_pruner(self, model: nn.Module, request: PruneRequest) -> None:
        """``pruner.prune(model, request)`` as the suite makes every call (inputs filled, deadline)."""
        call_pruner(self.pruner, self.case, model, request)

    @cached_property
    def outcome(self) -> tuple[nn.Module | None, BaseException | None]:
        model = copy.deepcopy(self.original)
        problem = run_pruner(self.pruner, self.case, model, self.request)
        self.request_problem = problem.request_problem
        return (None, problem.error) if problem.error is not None else (model, None)

    request_problem: str | None = field(default=None, init=False, repr=False)  # set by outcome

    def root_cause(self) -> str | None:
        """Why no check can judge the pruned model (reported once, by check_shapes)."""
        _, exc = self.outcome
        if exc is None or isinstance(exc, (Unsupported, guard.PrunerTimeout)):
            return None  # not a failure of the pruned model: `pruned` re-raises them for every check
        if isinstance(exc, CheckFailure):
            return str(exc)
        return f"the pruner raised on {self.request.describe()}: {type(exc).__name__}: {exc}"

    @property
    def pruned(self) -> nn.Module:
        """The pruned model, the very object the pruner was given (shared by checks: use
        :meth:`fresh` before mutating it). A check that reads it after the root cause was
        reported elsewhere skips."""
        model, exc = self.outcome
        if isinstance(exc, (Unsupported, guard.PrunerTimeout)):
            raise type(exc)(*exc.args)  # the same verdict for every check of this trial
        if exc is not None:
            raise CheckSkipped(f"no pruned model to judge: {self.root_cause()} (reported by check_shapes)")
        return model

    def with_pruned(self, model: nn.Module) -> "Trial":
        """The same trial judging another pruned model (a reloaded copy, say)."""
        other = Trial(self.case, self.pruner, self.request, self.scenario_id, self.inexact_reason, self.original)
        other.__dict__["outcome"] = (model, None)
        return other

    def fresh(self, backend: str = "eager") -> nn.Module:
        model = copy.deepcopy(self.pruned)
        models.set_attention_backend(model, backend)
        return model

    def original_copy(self, backend: str = "eager") -> nn.Module:
        model = copy.deepcopy(self.original)
        models.set_attention_backend(model, backend)
        return model

    @cached_property
    def matched(self):
        """Survivors, or the CheckFailure that matching raised (kept, so it is reported once)."""
        from .survivors import identify
        try:
            return identify(self.original, self.pruned)
        except CheckFailure as exc:
            return exc

    @property
    def survivors(self):
        """Which heads and dims survived, matched from the weights. Only check_shapes reports a
        failed match; every other check reading this skips with a pointer to it."""
        found = self.matched
        if isinstance(found, CheckFailure):
            raise CheckSkipped(f"survivor matching failed (reported by check_shapes): {found}")
        return found

    def unmet(self, need: str) -> str | None:
        """Why a check needing ``need`` does not apply to this trial (None: it applies)."""
        if need in PRUNER_NEEDS:
            caps = self.pruner.capabilities
            return None if getattr(caps, need) else PRUNER_NEEDS[need]
        return static_unmet(need, self.case, self.request, self.inexact_reason)


def suite_inputs(case: Case) -> dict:
    """What the suite hands every pruner call: one example (tracing) and a calibration batch."""
    return {"example_inputs": case.make_inputs(batch=1, pad=0, seed=11),
            "calibration": case.make_inputs(batch=4, seed=12)}


def call_pruner(pruner, case: Case, model: nn.Module, request: PruneRequest):
    """Every prune call of the suite: example inputs and calibration filled in, under the deadline."""
    if request.example_inputs is None:
        dtype = next((p.dtype for p in model.parameters() if p.is_floating_point()), torch.float32)
        inputs = {k: {n: t.to(dtype) if t.is_floating_point() else t for n, t in v.items()}
                  for k, v in suite_inputs(case).items()}  # float inputs in the model's dtype (check_dtype_device)
        request = dataclasses.replace(request, **inputs)
    with guard.deadline(f"{getattr(pruner, 'name', 'the pruner')}.prune on {case.name}"):
        return pruner.prune(model, request)


@dataclass
class PrunerRun:
    error: BaseException | None = None    # what the pruner raised, or the CheckFailure of a copy returned
    request_problem: str | None = None    # how the pruner changed the request it was given


def run_pruner(pruner, case: Case, model: nn.Module, request: PruneRequest) -> PrunerRun:
    """Prune ``model`` in place with the pruner's own deep copy of ``request``: a pruner that
    mutates its request cannot change what the suite expects (that is reported separately)."""
    sent = copy.deepcopy(request)
    out = PrunerRun()
    try:
        returned = call_pruner(pruner, case, model, sent)
    except (Exception, guard.PrunerTimeout) as exc:
        out.error = exc
    else:
        if isinstance(returned, nn.Module) and returned is not model:
            out.error = CheckFailure(
                f"the pruner returned a new {type(returned).__name__} instead of pruning the model passed in "
                "(the contract prunes in place)")
    if sent != request:
        out.request_problem = f"the pruner changed its request from {request.describe()} to {sent.describe()}"
    return out


PRUNER_NEEDS = {  # needs decided by the pruner's declared capabilities
    "save_load": "the pruner does not claim save/load",
    "validates_requests": "the pruner does not claim to validate requests",
}


def static_unmet(need: str, case: Case, request: PruneRequest, inexact_reason: str | None) -> str | None:
    """Why a check needing ``need`` cannot apply to this case and request, whatever the pruner."""
    if need == "explicit":
        explicit = request.heads is not None or request.dims is not None
        return None if explicit else "the pruner chose the heads (ratio request)"
    if need == "ratio":
        return None if request.ratio is not None else "the suite named the heads (explicit request)"
    if need == "exact":
        return inexact_reason
    if need == "generative":
        return None if case.generative else "not a generative model"
    if need == "gqa":
        return None if "gqa" in case.tags else "no GQA"
    if need == "rope":
        return None if "rope" in case.tags else "no RoPE"
    raise KeyError(need)


def logits(case: Case, model: nn.Module, inputs) -> torch.Tensor:
    with torch.no_grad():
        return models.logits(case, model, inputs)


HALF_DTYPES = (torch.bfloat16, torch.float16)  # both have CPU kernels for every zoo model


def in_dtype(inputs: dict, dtype: torch.dtype) -> dict:
    """Model inputs with their floating-point tensors (pixels) cast to the model's dtype."""
    return {k: v.to(dtype) if v.is_floating_point() else v for k, v in inputs.items()}


def half_tolerance(dtype: torch.dtype) -> float:
    """Exactness tolerance in ``dtype``, relative to the output scale. Against an oracle run in the
    same dtype the reference deviates by < 3 eps on the zoo (a folded q scale and re-ordered sums
    round differently); 8 eps leaves room without hiding a wrong slice, which costs O(1)."""
    return 8 * torch.finfo(dtype).eps


def deviation(case: Case, got: torch.Tensor, want: torch.Tensor, inputs) -> tuple[float, float]:
    """(max |got - want|, max |want|) over real positions: left-padded positions of a causal LM
    attend to nothing, so they hold garbage in both."""
    diff, scale = (got.float() - want.float()).abs(), want.float().abs()
    mask = inputs.get("attention_mask")
    if mask is not None and diff.dim() == 3 and case.generative and case.modality == "text":
        diff, scale = diff[mask.bool()], scale[mask.bool()]
    if not diff.numel():
        return 0.0, 0.0
    return float(diff.max()), float(scale.max())


def compare(case: Case, got: torch.Tensor, want: torch.Tensor, inputs, *, atol: float, what: str) -> float:
    """Max deviation over real (unpadded) positions; fails above ``atol`` times the output scale
    (max |oracle|, at least 1), so fp32 rounding in larger logits is not mistaken for an error."""
    fail_unless(got.shape == want.shape, f"{what}: output shape {tuple(got.shape)} != oracle {tuple(want.shape)}")
    err, scale = deviation(case, got, want, inputs)
    tol = atol * max(1.0, scale)
    fail_unless(err == err and err <= tol, f"{what}: max |pruned - oracle| = {err:.3g} > {tol:.3g}")
    return err
