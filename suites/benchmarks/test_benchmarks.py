"""The real runs, on request only: ``pytest suites/benchmarks -m benchmark`` (CPU, minutes) and
``-m gpu`` (CUDA). They write to a temporary folder; the committed reports come from
``python -m suites.benchmarks``."""
from __future__ import annotations

import json

import pytest
import torch

from suites.benchmarks import prune_speed
from suites.benchmarks.__main__ import main
from suites.benchmarks.rows import RowWriter
from suites.benchmarks.shapes import CONFIGS


def _rows(stem):
    return [json.loads(line) for line in stem.with_suffix(".jsonl").read_text().splitlines()]


def _check_every_family(rows, config):
    speedups = {(r["case"], r["mode"]) for r in rows if r["suite"] == "families" and r["metric"] == "speedup"}
    for shape in config.shapes:
        for mode in ("heads", "head_dims"):
            assert (shape.name, mode) in speedups, (shape.name, mode)


@pytest.mark.benchmark
def test_cpu_config(tmp_path):
    stem = tmp_path / "cpu"
    assert main(["--config", "cpu", "--suites", "families,alignment,llm", "--out", str(stem)]) == 0
    _check_every_family(_rows(stem), CONFIGS["cpu"])


@pytest.mark.benchmark
def test_pruning_speed_targets():
    """Explicit <= 1.3x the index_select floor, ratio (with scoring) <= 1.5x, peak <= 1.1x the model,
    faster than Torch-Pruning: medians of per-round ratios on the 853M Llama (needs ~8 GB free)."""
    writer = RowWriter("cpu")
    prune_speed.run(writer, print, repeats=3)
    got = {(r["mode"], r["metric"]): r["median"] for r in writer.rows}
    assert got[("explicit", "vs_floor")] <= 1.3
    assert got[("ratio", "vs_floor")] <= 1.5
    assert got[("explicit", "peak_memory_ratio")] <= 1.1 and got[("ratio", "peak_memory_ratio")] <= 1.1
    for method in ("explicit", "ratio"):  # measured, or Torch-Pruning ran past its time limit
        slower = got.get((method, "torch_pruning_slower"), got.get((method, "torch_pruning_slower_at_least")))
        assert slower is not None and slower > 1


@pytest.mark.benchmark
@pytest.mark.gpu
@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_gpu_config(tmp_path):
    stem = tmp_path / "gpu"
    assert main(["--config", "gpu", "--device", "cuda", "--out", str(stem)]) == 0
    rows = _rows(stem)
    _check_every_family(rows, CONFIGS["gpu"])
    assert all(r["device"].startswith("cuda") for r in rows)
