"""Benchmark result rows (BRIEF decision 4): one JSON line per measured configuration and metric."""
from __future__ import annotations

import json
import os
import platform
import subprocess
import time
from collections.abc import Iterable, Sequence
from pathlib import Path

import torch

from ..results import package_versions
from .timing import Stats

REQUIRED = ("kind", "suite", "family", "case", "mode", "ratio", "scenario", "metric", "unit", "median", "q25",
            "q75", "min", "n", "samples", "device", "machine", "versions", "git_rev", "time")


def git_rev() -> str:
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], capture_output=True, text=True, timeout=10,
                             cwd=Path(__file__).resolve().parent)
        rev = out.stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], capture_output=True,
                               text=True, timeout=10, cwd=Path(__file__).resolve().parent).stdout.strip()
        return (rev + ("-dirty" if dirty else "")) or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown cpu"


def machine_info(device: str) -> dict:
    info = {"host": platform.node(), "platform": platform.platform(), "cpu": _cpu_model(),
            "cores": os.cpu_count(), "torch_threads": torch.get_num_threads()}
    try:
        info["load_average"] = [round(x, 2) for x in os.getloadavg()]
    except OSError:
        pass
    if torch.device(device).type == "cuda":
        props = torch.cuda.get_device_properties(torch.device(device))
        info.update(gpu=props.name, gpu_memory_gb=round(props.total_memory / 2**30, 1), cuda=torch.version.cuda)
    return info


def device_label(device: str) -> str:
    if torch.device(device).type == "cuda":
        return f"cuda ({torch.cuda.get_device_name(torch.device(device))})"
    return f"cpu ({torch.get_num_threads()} threads)"


class RowWriter:
    """Collects rows; every row carries the run's device, machine, versions and git revision."""

    def __init__(self, device: str):
        versions = package_versions()
        try:
            from importlib.metadata import version
            versions["torch_pruning"] = version("torch-pruning")
        except Exception:  # noqa: BLE001 - optional dependency
            versions["torch_pruning"] = "absent"
        self.base = {"device": device_label(device), "machine": machine_info(device), "versions": versions,
                     "git_rev": git_rev()}
        self.rows: list[dict] = []

    def add(self, *, suite: str, family: str, case: str, mode: str | None, ratio: float | None, scenario: str,
            metric: str, unit: str, values: Sequence[float] | Stats, **extra) -> dict:
        stats = values if isinstance(values, Stats) else Stats.of(list(values))
        row = {"kind": "benchmark", "suite": suite, "family": family, "case": case, "mode": mode, "ratio": ratio,
               "scenario": scenario, "metric": metric, "unit": unit, "median": stats.median, "q25": stats.q25,
               "q75": stats.q75, "min": stats.min, "n": stats.n, "samples": list(stats.samples), **self.base,
               "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()), **extra}
        self.rows.append(row)
        return row


def write_jsonl(path: Path, rows: Iterable[dict]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", encoding="utf-8") as f:
        for row in rows:
            f.write(json.dumps(row, sort_keys=True) + "\n")
    return path


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in Path(path).read_text(encoding="utf-8").splitlines() if line.strip()]
