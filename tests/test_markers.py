"""Benchmark and GPU tests run only when -m names their marker."""
from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_a_marker_expression_that_does_not_name_benchmark_runs_no_benchmark():
    def collected(*args):
        out = subprocess.run([sys.executable, "-m", "pytest", "suites/benchmarks", "--co", "-q",
                              "-p", "no:cacheprovider", *args], capture_output=True, text=True, cwd=ROOT)
        return [line for line in out.stdout.splitlines() if "::" in line]

    assert not any("test_cpu_config" in t for t in collected("-m", "not meta"))
    assert any("test_cpu_config" in t for t in collected("-m", "benchmark"))
