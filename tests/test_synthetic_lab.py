"""benchmarks/synthetic_lab.py from outside: a small lab appended through the real store, scored by `history show`."""

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SCRIPT = ROOT / "benchmarks" / "synthetic_lab.py"


def run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.run(
        [sys.executable, *args], cwd=cwd, capture_output=True, text=True, timeout=300, env=env, check=False
    )


def make(out: Path) -> dict:
    # Noise at a tenth of the A/A runs' spread, so a planted 15% step stands clear of it in 12 nights.
    done = run(str(SCRIPT), "make", "--machines", "3", "--nights", "12", "--seed", "4", "--noise-scale", "0.1",
               "--out", str(out), cwd=out.parent)  # fmt: skip
    assert done.returncode == 0, done.stderr
    assert "SQLite: appended 36 runs" in done.stdout
    return json.loads((out / "truth.json").read_text())


def show(out: Path, machine: str, case: str, figure: str) -> list[str]:
    done = run("-m", "benchharness.cli", "history", "show", "--history", str(out / "history.sqlite"),
               "--machine", machine, "--case", case, "--metric", figure, cwd=out)  # fmt: skip
    assert done.returncode == 0, done.stderr
    heading, *lines = done.stdout.splitlines()  # then one line per run, oldest first
    assert heading.startswith(f"{figure} (") and heading.endswith("run(s), oldest first"), heading
    return lines


@pytest.mark.slow  # over ~5 s (the fast lane's line)
def test_the_lab_is_deterministic_and_its_planted_changes_are_what_history_show_finds(tmp_path):
    truth = make(tmp_path / "a")
    assert make(tmp_path / "b") == truth  # the same seed makes the same lab
    kinds = {p["kind"] for p in truth["planted"]}
    assert {"step", "transient", "bimodal"} <= kinds
    step = next(
        p for p in truth["planted"] if p["kind"] == "step" and p["size"] == -0.15 and "tok_per_s" in p["figure"]
    )
    lines = show(tmp_path / "a", step["machine"], step["case_key"], step["figure"])
    marked = [i for i, line in enumerate(lines) if "<- change point (-1" in line]
    assert len(marked) == 1 and abs(marked[0] - step["night"]) <= 1, lines
    went = next(p for p in truth["planted"] if p["kind"] == "transient" and "tok_per_s" in p["figure"])
    lines = show(tmp_path / "a", went["machine"], went["case_key"], went["figure"])
    assert "<- transient (-1" in lines[went["night"]] and "change point" not in "".join(lines), lines
    assert re.search(r"back to the level after \d+ run\(s\)\)$", lines[went["night"]]), lines  # runs, not nights
    bimodal = next(p for p in truth["planted"] if p["kind"] == "bimodal" and p["figure"] == "model_memory_bytes")
    shown = show(tmp_path / "a", bimodal["machine"], bimodal["case_key"], "model_memory_bytes")
    assert all(line.split()[2] == "MiB" for line in shown), shown  # each value with its unit
    values = {float(line.split()[1]) for line in shown}
    assert len(values) == 2 and round(max(values) - min(values)) == 948 - 676
