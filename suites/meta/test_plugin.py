"""The plugin as a third party meets it: an outside module, capabilities, expected failures,
results lines, repro commands, and the same outcomes with and without xdist."""
from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

pytestmark = [pytest.mark.meta, pytest.mark.slow]

REPO = Path(__file__).resolve().parents[2]

THIRD_PARTY = textwrap.dedent('''
    """A pruner that lives outside the headprune repository."""
    import headprune
    from headprune.contract import Capabilities


    class ForgetfulPruner:
        """Prunes with headprune, then restores the model config (a real, common omission)."""
        name = "forgetful"
        version = "9.9"
        capabilities = Capabilities(families=frozenset({"llama"}), modes=frozenset({"heads"}))
        expected_failures = {
            "llama-heads-ratio-check_attribute_sync": "config fields are not synced yet",
            "check_does_not_exist": "a stale entry",
        }

        def prune(self, model, request):
            saved = model.config.to_dict()
            headprune.prune(model, heads=request.heads, ratio=request.ratio, mode=request.mode, gqa=request.gqa)
            for key in ("num_attention_heads", "num_key_value_heads"):
                setattr(model.config, key, saved[key])


    PRUNER = ForgetfulPruner()
''')


def _pytest(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), str(REPO)]), "CI": "1"}
    env.pop("PYTEST_XDIST_WORKER", None)
    env.pop("PYTEST_ADDOPTS", None)
    return subprocess.run([sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-rA", *args],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=600)


def _rows(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.fixture(scope="module")
def third_party(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("outside")
    (tmp / "my_pruner.py").write_text(THIRD_PARTY)
    results = tmp / "results.jsonl"
    proc = _pytest(tmp, "suites/conformance", "--pruner", "my_pruner:PRUNER", "--results", str(results),
                   "-k", "llama-heads or bert-heads or llama-head_dims", "-W", "default")
    return proc, _rows(results)


def test_outside_pruner_runs_with_its_expectations(third_party):
    proc, rows = third_party
    out = proc.stdout + proc.stderr
    assert proc.returncode == 0, out[-3000:]
    assert "pruner forgetful 9.9 (my_pruner:PRUNER)" in out
    by_id = {r["nodeid"].split("[")[-1].rstrip("]"): r for r in rows}
    assert by_id["llama-heads-ratio-check_attribute_sync"]["outcome"] == "xfailed"
    assert by_id["llama-heads-check_kept_heads_exact"]["outcome"] == "passed"
    assert by_id["bert-heads-check_shapes"]["outcome"] == "skipped"
    assert "does not support family 'bert'" in by_id["bert-heads-check_shapes"]["reason"]
    assert by_id["llama-head_dims-check_shapes"]["outcome"] == "skipped"
    assert "'check_does_not_exist'" in out and "matches no collected test" in out
    assert {r["pruner"] for r in rows} == {"forgetful"}
    assert all(r["versions"]["torch"] and r["check"] and r["case"] for r in rows)


def test_failures_carry_a_working_repro(tmp_path):
    (tmp_path / "my_pruner.py").write_text(THIRD_PARTY.replace('"llama-heads-ratio-check_attribute_sync"',
                                                                '"nothing-matches-this"'))
    proc = _pytest(tmp_path, "suites/conformance", "--pruner", "my_pruner:PRUNER", "--results", "",
                   "-k", "llama-heads-ratio-check_attribute_sync")
    assert proc.returncode == 1, proc.stdout[-3000:]
    repro = next(line.split("repro:", 1)[1].strip() for line in proc.stdout.splitlines() if "repro:   python -m" in line)
    assert repro.startswith("python -m suites.repro --pruner my_pruner:PRUNER llama heads-ratio check_attribute_sync")
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), str(REPO)])}
    again = subprocess.run([sys.executable, *repro.split()[1:]], cwd=REPO, env=env, capture_output=True,
                           text=True, timeout=300)
    assert again.returncode == 1 and "FAILED" in again.stdout and "config.num_attention_heads" in again.stdout


def test_xdist_and_serial_runs_agree(tmp_path):
    selection = ("suites/conformance", "-k", "phi3-gqa-heads or timm-swin-heads-check")  # GQA, fused rows, ratios, bias table
    serial, parallel = tmp_path / "serial.jsonl", tmp_path / "parallel.jsonl"
    a = _pytest(tmp_path, *selection, "--results", str(serial))
    b = _pytest(tmp_path, *selection, "--results", str(parallel), "-n", "2")
    assert a.returncode == b.returncode == 0, (a.stdout + b.stdout)[-3000:]
    outcome = lambda rows: sorted((r["nodeid"], r["outcome"]) for r in rows)  # noqa: E731
    assert outcome(_rows(serial)) == outcome(_rows(parallel))
    assert len(_rows(serial)) > 50
