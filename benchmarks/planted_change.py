"""Planted changes through the real llama.cpp path: what the regression check calls, and what it does not.

    python benchmarks/planted_change.py --repeats 2

A scratch project runs SmolLM2-135M Q4_0 (and its F32 reference) through `llamacpp-planted`
(benchmarks/planted_backend.py: real llama.cpp plus a busy-wait per decode step) with the default
workload (pp128 + tg64, 6+ rounds) and the default policy (min_effect 5%, Mann-Whitney p < 0.002, one
confirmation). It records a baseline with no delay, then alternates the conditions
`none, 2x, 3%` for --repeats rounds, and counts confirmed decode regressions per condition.
Writes benchmarks/results/planted_change.json and .md.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
CASE = "smollm2-135m-q4_0-llamacpp-planted-cpu"
PYPROJECT = """
[tool.benchharness]
threads = 2
[tool.benchharness.workload]
prompt_tokens = 128
gen_tokens = 64
warmup_rounds = 1
min_rounds = 6
min_time_s = 2.0
[tool.benchharness.accuracy]
n_ctx = 256
windows = 3
[tool.benchharness.suites.planted]
models = ["smollm2-135m"]
backends = ["llamacpp-planted"]
quants = ["f32", "q4_0"]
[tool.benchharness.suites.planted.gates]
speedup = false
memory_reduction = false
accuracy_retained = false
"""
SUITE = 'import pytest\npytestmark = pytest.mark.benchsuite("planted")\n\n\ndef test_generation(bench_case, bench):\n    bench.check(bench_case)\n'


def run(project: Path, delay_s: float, *extra: str) -> dict:
    env = {**os.environ, "PLANTED_DELAY_S": repr(delay_s)}
    command = [sys.executable, "-m", "pytest", "--device=cpu", "-p", "no:cacheprovider", "-q", "--quant=q4_0", *extra]
    started = time.monotonic()
    proc = subprocess.run(command, cwd=project, env=env, capture_output=True, text=True, check=False)
    data = json.loads((project / "reports" / "latest.json").read_text())
    case = next(c for c in data["cases"] if c["id"] == CASE)
    decode = next((v for v in case["verdicts"] if v["kind"] == "baseline" and v["name"] == "decode_tok_per_s"), None)
    return {
        "exit": proc.returncode,
        "wall_s": round(time.monotonic() - started, 1),
        "decode_tok_per_s": case["readings"]["decode_tok_per_s"]["value"],
        "verdict": decode,
    }


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="benchharness-planted-") as tmp:
        project = Path(tmp)
        (project / "pyproject.toml").write_text(PYPROJECT)
        (project / "test_planted.py").write_text(SUITE)
        shutil.copy(ROOT / "benchmarks" / "planted_backend.py", project / "plantedbackend.py")
        (project / "conftest.py").write_text("import plantedbackend  # registers llamacpp-planted\n")
        baseline = run(project, 0.0, "--save-baseline")
        per_token = 1.0 / baseline["decode_tok_per_s"]
        conditions = {"none": 0.0, "2x": per_token, "3%": 0.03 * per_token}
        rows = []
        for repeat in range(args.repeats):
            for name, delay in conditions.items():
                result = run(project, delay)
                v = result["verdict"] or {}
                rows.append({"repeat": repeat + 1, "condition": name, "delay_ms": delay * 1000, **result})
                print(f"{name}: {v.get('status')} {v.get('message', '')} [{v.get('confirmation')}]", flush=True)
    summary = {
        "command": f"python benchmarks/planted_change.py --repeats {args.repeats}",
        "baseline_decode_tok_per_s": baseline["decode_tok_per_s"],
        "rows": rows,
    }
    out = ROOT / "benchmarks" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / "planted_change.json").write_text(json.dumps(summary, indent=2, sort_keys=True) + "\n")
    lines = [
        "# Planted changes through real llama.cpp (SmolLM2-135M Q4_0, pp128 + tg64)",
        "",
        f"Command: `{summary['command']}`. Baseline with no delay: {baseline['decode_tok_per_s']:.1f} decode tok/s.",
        "Default policy: min_effect 5%, one-sided Mann-Whitney p < 0.002, one confirmation in a fresh child.",
        "Conditions alternate (none, 2x, 3%) in each repeat.",
        "",
        "| repeat | condition | delay per token | decode tok/s | verdict on decode_tok_per_s | confirmation | exit |",
        "|---:|---|---:|---:|---|---|---:|",
    ]
    for r in rows:
        v = r["verdict"] or {}
        lines.append(
            f"| {r['repeat']} | {r['condition']} | {r['delay_ms']:.3f} ms | {r['decode_tok_per_s']:.1f} | "
            f"{v.get('status')}: {v.get('message', '')} | {v.get('confirmation') or '-'} | {r['exit']} |"
        )
    (out / "planted_change.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
