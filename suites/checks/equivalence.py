"""Exactness: the kept heads compute what they computed before (masking oracle)."""
from __future__ import annotations

import copy

import models

from .base import HALF_DTYPES, CheckFailure, Trial, check, compare, fail_unless, half_tolerance, in_dtype, logits
from .oracle import survivors_oracle
from .survivors import identify

ATOL = 1e-5
GENERATE_TOKENS = 4


def _oracle(trial: Trial, backend: str):
    oracle = survivors_oracle(trial.original, trial.survivors)
    models.set_attention_backend(oracle, backend)
    return oracle


@check("exact")
def check_kept_heads_exact(trial: Trial) -> None:
    """Forward equals the masking oracle on padded and unpadded batches, eager and sdpa (where available)."""
    case = trial.case
    # sdpa first: its failures are the silent ones (attention-map §7)
    for backend in sorted(models.available_backends(case), reverse=True):
        pruned, oracle = trial.fresh(backend), _oracle(trial, backend)
        for pad in (2, 0):
            inputs = case.make_inputs(batch=2, seq_len=7, pad=pad, seed=1)
            compare(case, logits(case, pruned, inputs), logits(case, oracle, inputs), inputs, atol=ATOL,
                    what=f"{backend} forward, pad={pad}")
            if case.modality in ("vision", "speech"):
                break  # padding means nothing for images


@check("exact", "generative")
def check_generate(trial: Trial) -> None:
    """generate() with DynamicCache and StaticCache gives the oracle's tokens and step scores, eager and sdpa."""
    case = trial.case
    inputs = {k: v for k, v in case.make_inputs(batch=2, seq_len=6, pad=2, seed=2).items()
              if not k.startswith("decoder_")}  # sequence-to-sequence: generate() makes the decoder's
    for backend in sorted(models.available_backends(case), reverse=True):
        pruned, oracle = trial.fresh(backend), _oracle(trial, backend)
        for cache in ("dynamic", "static"):
            kwargs = dict(max_new_tokens=GENERATE_TOKENS, do_sample=False, output_logits=True,
                          return_dict_in_generate=True)
            if cache == "static":
                kwargs["cache_implementation"] = "static"
            got = pruned.generate(**inputs, **kwargs)
            want = oracle.generate(**inputs, **kwargs)
            what = f"{backend} generate with {cache} cache"
            fail_unless(got.sequences.shape == want.sequences.shape and bool((got.sequences == want.sequences).all()),
                        f"{what}: tokens {got.sequences.tolist()} != oracle {want.sequences.tolist()}")
            for step, (a, b) in enumerate(zip(got.logits, want.logits)):  # decode steps read the KV cache
                compare(case, a, b, {}, atol=ATOL, what=f"{what}, step {step} logits")


@check("exact", "explicit")
def check_exact_half_precision(trial: Trial) -> None:
    """In bfloat16 and float16 the pruned model equals the oracle run in the same dtype, within a
    tolerance derived from the dtype's epsilon (bfloat16 on sdpa, float16 on eager, where available)."""
    trial.pruned  # noqa: B018  (a root cause reported by check_shapes makes this skip)
    case = trial.case
    inputs = case.make_inputs(batch=2, seq_len=7, pad=2, seed=1)
    backends = sorted(models.available_backends(case), reverse=True)
    for i, dtype in enumerate(HALF_DTYPES):
        original = trial.original_copy().to(dtype)
        pruned = copy.deepcopy(original)
        trial.run_pruner(pruned, copy.deepcopy(trial.request))
        try:
            survivors = identify(original, pruned)
        except CheckFailure as exc:
            raise CheckFailure(f"{dtype}: {exc}") from exc
        oracle = survivors_oracle(original, survivors)
        batch = in_dtype(inputs, dtype)
        backend = backends[min(i, len(backends) - 1)]
        models.set_attention_backend(pruned, backend)
        models.set_attention_backend(oracle, backend)
        compare(case, logits(case, pruned, batch), logits(case, oracle, batch), batch,
                atol=half_tolerance(dtype), what=f"{dtype} {backend} forward")
