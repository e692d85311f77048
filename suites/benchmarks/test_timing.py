"""The measuring layer, CUDA logic included (with a stand-in CUDA module: it must run everywhere)."""
from __future__ import annotations

import torch

from suites.benchmarks import probes, timing
from suites.benchmarks.prune_speed import measure_call


class FakeEvent:
    def __init__(self, log, clock, enable_timing=False):
        assert enable_timing, "timing events must be created with enable_timing=True"
        self.log, self.clock, self.at, self.synced = log, clock, None, False

    def record(self):
        self.at = self.clock["now"]
        self.log.append("record")

    def synchronize(self):
        self.synced = True
        self.log.append("synchronize")

    def elapsed_time(self, end):
        assert end.synced, "elapsed_time read before the end event synchronised"
        return (end.at - self.at) * 1e3  # milliseconds, like torch.cuda.Event


class FakeCuda:
    """Enough of torch.cuda for the clock and the memory meter: time and memory advance as fn runs."""

    def __init__(self):
        self.log, self.clock = [], {"now": 0.0}
        self.allocated, self.peak = 100, 100

    def Event(self, enable_timing=False):  # noqa: N802 - mirrors torch.cuda.Event
        return FakeEvent(self.log, self.clock, enable_timing)

    def synchronize(self):
        self.log.append("device sync")

    def memory_allocated(self):
        return self.allocated

    def reset_peak_memory_stats(self):
        self.log.append("reset")
        self.peak = self.allocated

    def max_memory_allocated(self):
        return self.peak

    def work(self, seconds=0.5, extra=40):
        self.clock["now"] += seconds
        self.peak = max(self.peak, self.allocated + extra)
        self.log.append("fn")


def test_cuda_clock_times_between_events_and_divides_by_calls():
    cuda = FakeCuda()
    clock = timing.clock_for("cuda", cuda=cuda)
    assert isinstance(clock, timing.CudaClock)
    per_call = clock.seconds_per_call(cuda.work, 4)
    assert abs(per_call - 0.5) < 1e-12
    assert cuda.log == ["record", "fn", "fn", "fn", "fn", "record", "synchronize"]


def test_cuda_memory_reports_the_peak_over_what_was_allocated():
    cuda = FakeCuda()
    meter = timing.memory_for("cuda", cuda=cuda)
    assert isinstance(meter, timing.CudaMemory)
    assert meter.peak_extra_bytes(lambda: cuda.work(extra=64)) == 64
    assert cuda.log.index("reset") < cuda.log.index("fn")


def test_prune_speed_measures_cuda_with_the_allocator_and_a_synchronised_clock():
    cuda = FakeCuda()
    seconds, peak, result = measure_call(lambda: cuda.work(seconds=0.0, extra=7) or "done", "cuda", cuda=cuda)
    assert result == "done" and peak == 7 and seconds >= 0
    assert cuda.log == ["device sync", "reset", "fn", "device sync"]


def test_cpu_picks_the_benchmark_timer_and_tensor_tracking():
    assert isinstance(timing.clock_for("cpu"), timing.CpuClock)
    assert isinstance(timing.memory_for("cpu"), timing.CpuMemory)
    x = torch.randn(64, 64)
    t = timing.CpuClock(1).seconds_per_call(lambda: x @ x, 3)
    assert 0 < t < 1


def test_live_tensor_bytes_counts_new_storage_once_and_not_inputs_or_views():
    w = torch.randn(256, 1024)  # 1 MiB, allocated outside: never counted
    x = torch.randn(8, 256)

    def fn():
        y = x @ w                  # new: 8 * 1024 * 4 bytes
        v = y[:, :10]              # a view: not new
        z = y.relu()               # new, same size; y is still alive here
        del y
        return (z + 1).sum(), v    # another new 32 KiB while z lives
    peak = timing.CpuMemory().peak_extra_bytes(fn)
    one = 8 * 1024 * 4
    assert one * 2 <= peak <= one * 3 + 64, peak
    assert peak < 256 * 1024 * 4  # the weight (and w.t() as a view) is not counted


def test_stats_quantiles():
    s = timing.Stats.of([4.0, 1.0, 3.0, 2.0])
    assert (s.median, s.q25, s.q75, s.min, s.n) == (2.5, 1.75, 3.25, 1.0, 4)
    assert s.samples == (4.0, 1.0, 3.0, 2.0)


def test_interleaved_runs_round_robin_and_ratios_pair_rounds():
    order = []

    class Clock:
        def seconds_per_call(self, fn, number):
            fn()
            return {"a": 2.0, "b": 1.0}[order[-1]]

    times = timing.interleaved(Clock(), {"a": lambda: order.append("a"), "b": lambda: order.append("b")}, 3,
                               target_s=0.0)
    assert order[-6:] == ["a", "b"] * 3
    assert timing.ratios(times["a"], times["b"]) == [2.0, 2.0, 2.0]


def test_backend_labels():
    assert probes.backend_label(0, set()) == "eager (no SDPA)"
    assert probes.backend_label(2, set()) == "math"
    assert probes.backend_label(2, {"_scaled_dot_product_flash_attention"}) == "flash"
    assert probes.backend_label(1, {"_scaled_dot_product_cudnn_attention"}) == "cudnn"
    assert probes.backend_label(1, {"_scaled_dot_product_efficient_attention"}) == "mem-efficient"


def test_sdpa_backend_is_detected_on_cpu():
    q = torch.randn(1, 2, 16, 8)
    got = probes.sdpa_backend(lambda: torch.nn.functional.scaled_dot_product_attention(q, q, q))
    assert got in ("flash (cpu)", "math")
    assert probes.sdpa_backend(lambda: torch.softmax(q @ q.transpose(-1, -2), -1) @ q) == "eager (no SDPA)"


def test_flops_count_the_cpu_flash_kernel():
    q = torch.randn(2, 4, 32, 16)
    k = torch.randn(2, 4, 48, 16)
    flops = probes.count_flops(lambda: torch.nn.functional.scaled_dot_product_attention(q, k, k))
    assert flops == 2 * (2 * 2 * 4 * 32 * 48 * 16)  # QK^T and PV, whichever kernel ran
