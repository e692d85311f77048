"""Exactness again, on a copy of the zoo model whose all-zero parameters are re-drawn.

The zoo models are initialised the Hugging Face way: every Linear bias and the HF Swin
relative-position bias table start at zero. A pruner that slices those by position (or
forgets them) then computes exactly the same numbers, and check_kept_heads_exact cannot
see it. This check re-runs the pruner on a copy of the original whose all-zero parameters
are drawn from N(0, 0.02^2) (seeded), and judges that run with check_kept_heads_exact.
"""
from __future__ import annotations

import copy

import torch

from .base import CheckFailure, Trial, check
from .equivalence import check_kept_heads_exact

STD = 0.02
SEED = 1234


def redrawn_original(original):
    """A copy of ``original`` with every all-zero parameter re-drawn, and their names."""
    model = copy.deepcopy(original)
    g = torch.Generator().manual_seed(SEED)
    names = []
    with torch.no_grad():
        for name, p in model.named_parameters():
            if p.numel() and not bool(p.any()):
                p.copy_(torch.randn(p.shape, generator=g, dtype=torch.float64).to(p.dtype) * STD)
                names.append(name)
    return model, names


@check("exact")
def check_exact_nonzero_init(trial: Trial) -> None:
    """Exactness with zero-initialised parameters (biases, Swin tables) re-drawn, so mis-slicing them shows."""
    original, names = redrawn_original(trial.original)
    if not names:
        return  # nothing was hidden: check_kept_heads_exact already judged this model
    rerun = Trial(trial.case, trial.pruner, trial.request, trial.scenario_id, trial.inexact_reason,
                  original=original)
    try:
        check_kept_heads_exact(rerun)
    except CheckFailure as exc:
        raise CheckFailure(f"with {len(names)} zero-initialised parameters re-drawn (e.g. {names[0]}): {exc}") from exc
