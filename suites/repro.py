"""Re-run one conformance check without pytest:

    python -m suites.repro --pruner NAME CASE SCENARIO CHECK
"""
from __future__ import annotations

import argparse
import sys

import models
from headprune import discovery
from headprune.contract import Unsupported

from .checks import CHECKS, CheckFailure, CheckSkipped, guard
from .runner import run_check, trial, unsupported
from .scenarios import scenario_by_id


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(prog="python -m suites.repro", description=__doc__.strip().splitlines()[0])
    ap.add_argument("--pruner", default="headprune")
    ap.add_argument("case", choices=models.case_names())
    ap.add_argument("scenario")
    ap.add_argument("check", choices=sorted(CHECKS))
    args = ap.parse_args(argv)
    pruner = discovery.find(args.pruner)
    case = models.get_case(args.case)
    if (why := unsupported(pruner, case, scenario_by_id(case, args.scenario))):
        print(f"SKIPPED: {why}")
        return 0
    t = trial(pruner, args.case, args.scenario)
    print(f"{args.check} on {args.case} [{args.scenario}] with {pruner.name} {pruner.version}")
    print(f"request: {t.request.describe()}")
    try:
        run_check(pruner, args.case, args.scenario, args.check, pruner_spec=args.pruner)
    except CheckFailure as exc:
        print(f"FAILED: {exc}")
        return 1
    except Unsupported as exc:
        print(f"UNSUPPORTED: {exc}")
        return 0
    except guard.PrunerTimeout as exc:
        print(f"TIMEOUT: {exc}")
        return 1
    except CheckSkipped as exc:
        print(f"SKIPPED: {exc}")
        return 0
    print("PASSED")
    return 0


if __name__ == "__main__":
    sys.exit(main())
