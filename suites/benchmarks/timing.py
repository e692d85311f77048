"""Clocks and memory meters, one per device kind, behind one interface.

CPU: ``torch.utils.benchmark.Timer`` (it pins the thread count and runs the statement in a
loop); CUDA: CUDA events around the loop, read after the end event synchronises, never a
bare wall clock around asynchronous work. Peak memory: on CUDA the caching allocator's
``max_memory_allocated``; on CPU, which has no allocator statistics, the bytes of tensor
storage alive at once during the call, tracked op by op (weights and inputs excluded, so the
figure is the extra memory the call needs, like ``max_memory_allocated - memory_allocated``).
The CUDA module is injectable so the CUDA logic is unit-tested on machines without one.
"""
from __future__ import annotations

import math
import statistics
import weakref
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import torch
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_leaves

TARGET_BLOCK_S = 0.02  # each timed block runs the call often enough to last about this long


@dataclass(frozen=True)
class Stats:
    median: float
    q25: float
    q75: float
    min: float
    n: int
    samples: tuple[float, ...]

    @classmethod
    def of(cls, samples: Sequence[float]) -> Stats:
        xs = sorted(samples)
        if not xs:
            raise ValueError("no samples")
        return cls(statistics.median(xs), _quantile(xs, 0.25), _quantile(xs, 0.75), xs[0], len(xs), tuple(samples))


def _quantile(sorted_xs: Sequence[float], q: float) -> float:
    """Linear interpolation between closest ranks (numpy's default)."""
    pos = (len(sorted_xs) - 1) * q
    lo, hi = math.floor(pos), math.ceil(pos)
    return sorted_xs[lo] + (sorted_xs[hi] - sorted_xs[lo]) * (pos - lo)


class CpuClock:
    kind = "cpu"
    method = "torch.utils.benchmark.Timer"

    def __init__(self, num_threads: int | None = None):
        self.num_threads = num_threads or torch.get_num_threads()

    def seconds_per_call(self, fn: Callable[[], object], number: int) -> float:
        from torch.utils.benchmark import Timer

        timer = Timer(stmt="fn()", globals={"fn": fn}, num_threads=self.num_threads)
        return timer.timeit(number).mean  # Measurement.mean: seconds per run of the statement


class CudaClock:
    kind = "cuda"
    method = "CUDA events"

    def __init__(self, cuda=None):
        self.cuda = cuda if cuda is not None else torch.cuda

    def seconds_per_call(self, fn: Callable[[], object], number: int) -> float:
        start, end = self.cuda.Event(enable_timing=True), self.cuda.Event(enable_timing=True)
        start.record()
        for _ in range(number):
            fn()
        end.record()
        end.synchronize()
        return start.elapsed_time(end) / 1e3 / number  # elapsed_time is in milliseconds


def clock_for(device: str | torch.device, cuda=None):
    return CudaClock(cuda) if torch.device(device).type == "cuda" else CpuClock()


def calibrate(clock, fn: Callable[[], object], *, warmup: int = 2, target_s: float = TARGET_BLOCK_S) -> int:
    """Warm ``fn`` up, then how many calls make one timed block of about ``target_s``."""
    for _ in range(warmup):
        fn()
    once = clock.seconds_per_call(fn, 1)
    return max(1, min(1000, math.ceil(target_s / max(once, 1e-7))))


def interleaved(clock, fns: dict[str, Callable[[], object]], repeats: int, *,
                target_s: float = TARGET_BLOCK_S) -> dict[str, list[float]]:
    """Seconds per call of every ``fns`` entry, ``repeats`` times, round-robin.

    Variants measured in the same round see the same machine load, so the ratio of two of
    them per round (see :func:`ratios`) is far steadier than their separate medians on a
    shared machine."""
    numbers = {name: calibrate(clock, fn, target_s=target_s) for name, fn in fns.items()}
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            times[name].append(clock.seconds_per_call(fn, numbers[name]))
    return times


def ratios(base: Sequence[float], other: Sequence[float]) -> list[float]:
    """Per-round speedups ``base / other`` of two interleaved series."""
    return [b / o for b, o in zip(base, other)]


# -- peak memory ----------------------------------------------------------------------------

class LiveTensorBytes(TorchDispatchMode):
    """Bytes of tensor storage allocated inside the mode and still alive; ``peak`` is the most at once.

    A storage counts once, from the op that created it (outputs sharing an input's storage,
    views and in-place results, are not new) until it is freed.
    """

    def __init__(self):
        super().__init__()
        self.live = 0
        self.peak = 0
        self._seen: set[int] = set()

    def _freed(self, key: int, nbytes: int) -> None:
        self.live -= nbytes
        self._seen.discard(key)

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        inputs = {t.untyped_storage().data_ptr() for t in tree_leaves((args, kwargs)) if isinstance(t, torch.Tensor)}
        for t in tree_leaves(out):
            if not isinstance(t, torch.Tensor):
                continue
            storage = t.untyped_storage()
            key, nbytes = storage.data_ptr(), storage.nbytes()
            if nbytes == 0 or key in inputs or key in self._seen:
                continue
            self._seen.add(key)
            self.live += nbytes
            self.peak = max(self.peak, self.live)
            weakref.finalize(storage, self._freed, key, nbytes)
        return out


class CpuMemory:
    method = "tensor bytes alive at once (dispatch-mode tracking)"

    def peak_extra_bytes(self, fn: Callable[[], object]) -> int:
        with LiveTensorBytes() as meter:
            out = fn()
        del out
        return meter.peak


class CudaMemory:
    method = "torch.cuda.max_memory_allocated"

    def __init__(self, cuda=None):
        self.cuda = cuda if cuda is not None else torch.cuda

    def peak_extra_bytes(self, fn: Callable[[], object]) -> int:
        self.cuda.synchronize()
        before = self.cuda.memory_allocated()
        self.cuda.reset_peak_memory_stats()
        out = fn()
        self.cuda.synchronize()
        peak = self.cuda.max_memory_allocated()
        del out
        return peak - before


def memory_for(device: str | torch.device, cuda=None):
    return CudaMemory(cuda) if torch.device(device).type == "cuda" else CpuMemory()
