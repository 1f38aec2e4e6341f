"""Planted changes through the real llama.cpp path: what the regression check and `compare` call, and what not.

    python benchmarks/planted_change.py --repeats 2

A scratch project runs SmolLM2-135M Q4_0 (and its F32 reference) through `llamacpp-planted`
(benchmarks/planted_backend.py: real llama.cpp plus a sleep per decode step) with the default
workload (pp128 + tg64, 6+ rounds) and the default policy (min_effect 5%, Mann-Whitney p < 0.002 over
rounds, then the between-run check of issue 21, one confirmation). It records a baseline with no delay,
then `--clean` more runs with no delay into the history store: the machine's runs of unchanged code,
from which the between-run spread is learnt. Then, for --repeats rounds, the conditions
`none, 2x, 3%, threads/2` (threads/2: `--bench-set threads=1`, no delay). Each condition's run reads a
copy of the clean history (so one planted run never becomes "normal" for the next), and its results
are compared with the baseline run's by `benchharness compare` twice: with the clean history and with
none (`--history off`: the between-run spread unknown, only a move past run_factor 1.5x is called).
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
sys.path.insert(0, str(ROOT))

from benchharness.results import load_results  # noqa: E402  (this checkout's, as the children use)

CASES = {"q4_0": "smollm2-135m-q4_0-llamacpp-planted-cpu", "f32": "smollm2-135m-f32-llamacpp-planted-cpu"}
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
variants = ["f32", "q4_0"]
[tool.benchharness.suites.planted.gates]
speedup = false
memory_reduction = false
accuracy_retained = false
"""
SUITE = 'import pytest\npytestmark = pytest.mark.benchsuite("planted")\n\n\ndef test_generation(bench_case, bench):\n    bench.check(bench_case)\n'


def env() -> dict[str, str]:
    """Children import this checkout's package (the scratch project's cwd comes first otherwise)."""
    return {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}


def run(project: Path, delay_s: float, label: str, *extra: str) -> dict:
    command = [sys.executable, "-m", "pytest", "--device=cpu", "-p", "no:cacheprovider", "-q", *extra]
    started = time.monotonic()
    proc = subprocess.run(
        command, cwd=project, env={**env(), "PLANTED_DELAY_S": repr(delay_s)}, capture_output=True, text=True
    )
    kept = project / "kept" / f"{label}.json"
    kept.parent.mkdir(exist_ok=True)
    shutil.copy(project / "reports" / "latest.json", kept)
    return read_kept(kept, proc.returncode, round(time.monotonic() - started, 1))


def read_kept(kept: Path, exit_status: int | None, wall_s: float | None) -> dict:
    """One kept run's decode figures and baseline-check verdicts."""
    data = load_results(kept)
    out: dict = {"exit": exit_status, "wall_s": wall_s, "results": str(kept)}
    for quant, case_id in CASES.items():
        case = next(c for c in data["cases"] if c["id"] == case_id)
        decode = next(
            (v for v in case["verdicts"] if v["check"] == "baseline" and v["name"] == "decode_tok_per_s"), None
        )
        out[quant] = {"decode_tok_per_s": case["readings"]["decode_tok_per_s"]["value"], "verdict": decode}
    return out


def compare(project: Path, old: str, new: str, history: str) -> dict:
    """`benchharness compare OLD NEW --fail-on-regression --history H`: exit status and decode's lines."""
    command = [
        sys.executable,
        "-m",
        "benchharness.cli",
        "compare",
        old,
        new,
        "--fail-on-regression",
        "--history",
        history,
    ]
    proc = subprocess.run(command, cwd=project, env=env(), capture_output=True, text=True)
    decode = [line.strip() for line in proc.stdout.splitlines() if "decode_tok_per_s" in line]
    counts = {
        k: next((line.split()[0] for line in proc.stdout.splitlines() if f" {k}" in line and line[0].isdigit()), "0")
        for k in ("regressed", "improved", "not decided")
    }
    return {"exit": proc.returncode, "decode": decode, "counts": counts, "stdout": proc.stdout[-4000:]}


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--clean", type=int, default=3, help="runs with no delay after the baseline, into the history")
    parser.add_argument(
        "--from-kept",
        type=Path,
        help="re-analyse the scratch project of a run that was stopped (its kept/ results and clean.sqlite)",
    )
    parser.add_argument("--name", default="planted_change", help="file stem of the record in benchmarks/results/")
    args = parser.parse_args()
    if args.from_kept:
        return from_kept(args.from_kept, args.name)
    probe = [sys.executable, "-c", "import benchharness; print(benchharness.__file__)"]
    package = subprocess.run(probe, env=env(), capture_output=True, text=True, check=True, cwd="/").stdout.strip()
    print(f"children import benchharness from {package}", flush=True)
    with tempfile.TemporaryDirectory(prefix="benchharness-planted-") as tmp:
        project = Path(tmp)
        (project / "pyproject.toml").write_text(PYPROJECT)
        (project / "test_planted.py").write_text(SUITE)
        shutil.copy(ROOT / "benchmarks" / "planted_backend.py", project / "plantedbackend.py")
        (project / "conftest.py").write_text("import plantedbackend  # registers llamacpp-planted\n")
        clean = project / "clean.sqlite"
        baseline = run(project, 0.0, "baseline", "--save-baseline", f"--history={clean}")
        clean_runs = [run(project, 0.0, f"clean{i + 1}", f"--history={clean}") for i in range(args.clean)]
        per_token = 1.0 / baseline["q4_0"]["decode_tok_per_s"]
        conditions = {
            "none": (0.0, ()),
            "2x": (per_token, ()),
            "3%": (0.03 * per_token, ()),
            "threads/2": (0.0, ("--bench-set=threads=1",)),
        }
        rows = []
        for repeat in range(args.repeats):
            for name, (delay, extra) in conditions.items():
                history = project / f"history-{repeat}-{len(rows)}.sqlite"
                shutil.copy(clean, history)  # the machine's clean runs; this run is appended to the copy only
                label = f"r{repeat + 1}-{name.replace('/', '_')}"
                result = run(project, delay, label, f"--history={history}", *extra)
                with_history = compare(project, baseline["results"], result["results"], str(history))
                without = compare(project, baseline["results"], result["results"], "off")
                rows.append(
                    {
                        "repeat": repeat + 1,
                        "condition": name,
                        "delay_ms": delay * 1000,
                        **result,
                        "compare_history": with_history,
                        "compare_no_history": without,
                    }
                )
                v = result["q4_0"]["verdict"] or {}
                print(
                    f"{name}: q4_0 {v.get('status')} {v.get('message', '')} | compare exit {with_history['exit']} / {without['exit']}",
                    flush=True,
                )
    summary = {
        "command": f"python benchmarks/planted_change.py --repeats {args.repeats} --clean {args.clean}",
        "package": package,
        "baseline": baseline,
        "clean_runs": clean_runs,
        "rows": rows,
    }
    write(summary)
    return 0


def from_kept(project: Path, name: str) -> int:
    """The record from a stopped run's scratch project: every condition run that finished, compared as above."""
    kept = project / "kept"
    baseline = read_kept(kept / "baseline.json", None, None)
    clean_runs = [read_kept(p, None, None) for p in sorted(kept.glob("clean*.json"))]
    per_token = 1.0 / baseline["q4_0"]["decode_tok_per_s"]
    delays = {"none": 0.0, "2x": per_token, "3%": 0.03 * per_token, "threads/2": 0.0}
    rows = []
    for repeat in range(1, 10):
        for condition, delay in delays.items():
            path = kept / f"r{repeat}-{condition.replace('/', '_')}.json"
            if not path.is_file():
                continue
            result = read_kept(path, None, None)
            with_history = compare(project, baseline["results"], result["results"], str(project / "clean.sqlite"))
            without = compare(project, baseline["results"], result["results"], "off")
            row = {"repeat": repeat, "condition": condition, "delay_ms": delay * 1000, **result}
            rows.append({**row, "compare_history": with_history, "compare_no_history": without})
    probe = [sys.executable, "-c", "import benchharness; print(benchharness.__file__)"]
    package = subprocess.run(probe, env=env(), capture_output=True, text=True, check=True, cwd="/").stdout.strip()
    command = f"python benchmarks/planted_change.py --from-kept {project} --name {name}"
    write({"command": command, "package": package, "baseline": baseline, "clean_runs": clean_runs, "rows": rows}, name)
    return 0


def _verdict(v: dict | None) -> str:
    if not v:
        return "-"
    conf = f" [{v['confirmation']}]" if v.get("confirmation") else ""
    return f"{v['status']}: {v['message']}{conf}".replace("|", "/")


def write(summary: dict, name: str = "planted_change") -> None:
    out = ROOT / "benchmarks" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / f"{name}.json").write_text(json.dumps(summary, indent=2, sort_keys=True) + "\n")
    base = summary["baseline"]
    lines = [
        "# Planted changes through real llama.cpp (SmolLM2-135M Q4_0 and its F32 reference, pp128 + tg64)",
        "",
        f"Command: `{summary['command']}` (children import `{summary['package']}`).",
        f"Baseline with no delay: {base['q4_0']['decode_tok_per_s']:.1f} decode tok/s (Q4_0), "
        f"{base['f32']['decode_tok_per_s']:.1f} (F32); then {len(summary['clean_runs'])} clean runs into the history: "
        + ", ".join(f"{r['q4_0']['decode_tok_per_s']:.1f}" for r in summary["clean_runs"])
        + " tok/s (Q4_0).",
        "Default policy: min_effect 5%, one-sided Mann-Whitney p < 0.002 over rounds, then between runs: a t-test",
        "over the machine's clean runs (history) at p < 0.002, or without 3 of them a move past run_factor 1.5x;",
        "one confirmation in a fresh child.",
        "",
        "| repeat | condition | Q4_0 decode tok/s | F32 decode tok/s | exit | compare exit (history / none) | regressed (history / none) | not decided (history / none) |",
        "|---:|---|---:|---:|---:|---|---|---|",
    ]
    for r in summary["rows"]:
        h, n = r["compare_history"], r["compare_no_history"]
        lines.append(
            f"| {r['repeat']} | {r['condition']} | {r['q4_0']['decode_tok_per_s']:.1f} | {r['f32']['decode_tok_per_s']:.1f} | {r['exit']} | "
            f"{h['exit']} / {n['exit']} | {h['counts']['regressed']} / {n['counts']['regressed']} | "
            f"{h['counts']['not decided']} / {n['counts']['not decided']} |"
        )
    lines += ["", "The baseline check's decode verdicts in each run (Q4_0, then F32):", ""]
    for r in summary["rows"]:
        lines.append(f"- {r['repeat']} {r['condition']}: Q4_0 {_verdict(r['q4_0']['verdict'])}")
        lines.append(f"  F32 {_verdict(r['f32']['verdict'])}")
    lines += ["", "`benchharness compare BASELINE RUN` on decode (with the clean history / with --history off):", ""]
    for r in summary["rows"]:
        lines.append(f"- {r['repeat']} {r['condition']}:")
        lines += [f"  - history: {d}" for d in r["compare_history"]["decode"]] or ["  - history: not listed (same)"]
        lines += [f"  - none: {d}" for d in r["compare_no_history"]["decode"]] or ["  - none: not listed (same)"]
    (out / f"{name}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    sys.exit(main())
