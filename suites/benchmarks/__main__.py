"""Run the benchmark and write its report.

    python -m suites.benchmarks --config cpu --out reports/bench/cpu
    python -m suites.benchmarks --config gpu --device cuda --out reports/bench/gpu

Writes ``<out>.jsonl`` (one row per configuration and metric) and ``<out>.html`` (tables
and plots). ``--suites`` picks parts (families, alignment, llm, prune_speed); ``--only``
picks families by name.
"""
from __future__ import annotations

import argparse
import sys
import time
import warnings
from pathlib import Path

import torch

from . import prune_speed, run
from .rows import RowWriter, write_jsonl
from .shapes import CONFIGS

SUITES = ("families", "alignment", "llm", "prune_speed")


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m suites.benchmarks", description=__doc__.strip().splitlines()[0])
    ap.add_argument("--config", choices=sorted(CONFIGS), default="cpu")
    ap.add_argument("--device", default="cpu", help="cpu or cuda[:N]")
    ap.add_argument("--out", default=None, help="path stem for .jsonl and .html (default reports/bench/<config>)")
    ap.add_argument("--suites", default=",".join(SUITES), help=f"comma-separated subset of {','.join(SUITES)}")
    ap.add_argument("--only", default=None, help="comma-separated family shape names (e.g. vit-b16,llama-3-8b)")
    ap.add_argument("--repeats", type=int, default=None, help="override the config's round count")
    ap.add_argument("--prune-speed-rounds", type=int, default=5)
    ap.add_argument("--prune-speed-model", choices=sorted(prune_speed.SPEED_MODELS), default="llama-853M",
                    help="llama-853M (fp32, 3.2 GiB) or llama-3-8b (bf16, 15 GiB: the largest that fits 24 GiB)")
    ap.add_argument("--torch-pruning-limit", type=float, default=prune_speed.TORCH_PRUNING_LIMIT_S,
                    help="seconds Torch-Pruning may take before it counts as 'did not finish'")
    ap.add_argument("--threads", type=int, default=None, help="torch CPU threads (default: torch's choice)")
    args = ap.parse_args(argv)

    suites = [s for s in args.suites.split(",") if s]
    if unknown := set(suites) - set(SUITES):
        ap.error(f"unknown suites {sorted(unknown)}; choose from {SUITES}")
    if torch.device(args.device).type == "cuda" and not torch.cuda.is_available():
        ap.error("--device cuda, but torch.cuda.is_available() is False")
    if args.threads:
        torch.set_num_threads(args.threads)
    config = CONFIGS[args.config]
    if args.repeats:
        from dataclasses import replace
        config = replace(config, repeats=args.repeats)
    only = set(args.only.split(",")) if args.only else None
    out = Path(args.out or f"reports/bench/{args.config}")
    warnings.filterwarnings("ignore")

    def progress(msg: str) -> None:
        print(f"[{time.perf_counter() - start:6.1f}s] {msg}", flush=True)

    start = time.perf_counter()
    writer = RowWriter(args.device)
    progress(f"config {config.name} on {writer.base['device']}, dtype {config.dtype}, {config.repeats} rounds")
    if "families" in suites:
        run.run_families(writer, config, args.device, progress, only)
    if "alignment" in suites:
        run.run_alignment(writer, config, args.device, progress)
    if "llm" in suites:
        run.run_llm(writer, config, args.device, progress, only)
    if "prune_speed" in suites:
        prune_speed.run(writer, progress, repeats=args.prune_speed_rounds, device=args.device,
                        tp_limit_s=args.torch_pruning_limit, model=args.prune_speed_model)
    if not writer.rows:
        progress("nothing measured; nothing written")
        return 1
    jsonl = write_jsonl(out.with_suffix(".jsonl"), writer.rows)
    from reports.bench import write

    page = write(jsonl, out.with_suffix(".html"), f"headprune benchmark: {config.name} on {writer.base['device']}")
    progress(f"wrote {len(writer.rows)} rows to {jsonl} and {page}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
