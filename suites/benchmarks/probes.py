"""What one forward costs and runs: FLOPs (``FlopCounterMode``) and the SDPA backend that ran."""
from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch.overrides import TorchFunctionMode
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils.flop_counter import FlopCounterMode

# The fused kernels SDPA dispatches to (what a dispatch mode sees), by the name we report.
SDPA_KERNELS = {
    "_scaled_dot_product_flash_attention_for_cpu": "flash (cpu)",
    "_scaled_dot_product_flash_attention": "flash",
    "_scaled_dot_product_efficient_attention": "mem-efficient",
    "_scaled_dot_product_cudnn_attention": "cudnn",
    "_scaled_dot_product_fused_attention_overrideable": "fused (overrideable)",
}


def _cpu_flash_flops(query_shape, key_shape, value_shape, *args, out_shape=None, **kwargs) -> int:
    """FlopCounterMode has no formula for the CPU flash kernel: QK^T and PV, counted for the query heads."""
    b, h, lq, e = query_shape
    lk, ev = key_shape[-2], value_shape[-1]
    return 2 * b * h * lq * lk * e + 2 * b * h * lq * lk * ev


CUSTOM_FLOPS = {torch.ops.aten._scaled_dot_product_flash_attention_for_cpu: _cpu_flash_flops}


def count_flops(fn: Callable[[], object]) -> int:
    with FlopCounterMode(display=False, custom_mapping=CUSTOM_FLOPS) as counter:
        fn()
    return counter.get_total_flops()


class _SdpaCalls(TorchFunctionMode):
    def __init__(self):
        super().__init__()
        self.calls = 0

    def __torch_function__(self, func, types, args=(), kwargs=None):
        if func is F.scaled_dot_product_attention:
            self.calls += 1
        return func(*args, **(kwargs or {}))


class _KernelNames(TorchDispatchMode):
    def __init__(self):
        super().__init__()
        self.names: set[str] = set()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        name = func.overloadpacket.__name__
        if name in SDPA_KERNELS:
            self.names.add(name)
        return func(*args, **(kwargs or {}))


def backend_label(sdpa_calls: int, kernels: set[str]) -> str:
    """Name what ran: the fused kernel(s), 'math' when SDPA ran without one (its composite
    fallback, plain matmuls), 'eager' when attention never went through SDPA."""
    if sdpa_calls == 0 and not kernels:
        return "eager (no SDPA)"
    if not kernels:
        return "math"
    return "+".join(sorted(SDPA_KERNELS[k] for k in kernels))


def sdpa_backend(fn: Callable[[], object]) -> str:
    with _SdpaCalls() as calls, _KernelNames() as kernels:
        fn()
    return backend_label(calls.calls, kernels.names)


def flops_and_backend(fn: Callable[[], object]) -> tuple[int, str]:
    """:func:`count_flops` and :func:`sdpa_backend` from one call."""
    with _SdpaCalls() as calls, _KernelNames() as kernels, \
            FlopCounterMode(display=False, custom_mapping=CUSTOM_FLOPS) as counter:
        fn()
    return counter.get_total_flops(), backend_label(calls.calls, kernels.names)
