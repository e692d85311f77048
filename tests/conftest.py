"""Test-harness setup for tests/.

- Makes tests/hp_support.py importable whatever pytest's import mode.
- One intra-op thread per process: the models are tiny, so threading only adds overhead,
  and with ``-n 2`` (or anything else busy on the machine) OpenMP workers spin against each
  other (measured: 50 s -> 8 s for test_prune_exact.py on the 2-core box).
"""
import os
import sys

import torch

_HERE = os.path.dirname(os.path.abspath(__file__))
if _HERE not in sys.path:
    sys.path.insert(0, _HERE)

torch.set_num_threads(1)
