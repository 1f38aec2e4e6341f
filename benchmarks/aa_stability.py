"""A/A proof: the default suite run N times on unchanged code must not flip a gate verdict.

    python benchmarks/aa_stability.py --runs 3

Run 1 records a baseline (`--save-baseline`, into a scratch folder, never the repo's), runs 2..N
compare with it. Counted over the runs:
- gate-verdict flips: a (case, gate) that is `pass` in one run and `fail` in another
  (inconclusive is not a flip: it is the verdict saying the machine could not decide);
- regression alarms: baseline verdicts still `fail` after confirmation by a fresh child;
- the inconclusive rate, each run's wall time and exit status.
Writes benchmarks/results/aa_stability.json and .md.
"""

from __future__ import annotations

import argparse
import json
import os
import shlex
import subprocess
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchharness.results import load_results  # noqa: E402  (this checkout's, as the children use)

RESULTS = ROOT / "benchmarks" / "results"


def child_env() -> dict[str, str]:
    """The children import this checkout's package, not whichever one is installed (checked in `package`)."""
    return {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))}


def package_imported() -> str:
    """Where a child with `child_env()` imports benchharness from, recorded with the results."""
    probe = [sys.executable, "-c", "import benchharness; print(benchharness.__file__)"]
    return subprocess.run(probe, cwd=ROOT, env=child_env(), capture_output=True, text=True, check=True).stdout.strip()


def run_suite(index: int, scratch: Path, extra: list[str]) -> dict:
    results_dir = scratch / f"run{index}"
    command = [
        sys.executable,
        "-m",
        "pytest",
        "suites/",
        "--device=auto",
        "-p",
        "no:cacheprovider",
        "-q",
        f"--bench-set=results_dir='{results_dir}'",
        f"--bench-set=baselines_dir='{scratch / 'baselines'}'",
        *(["--save-baseline"] if index == 1 else []),
        *extra,
    ]
    started = time.monotonic()
    proc = subprocess.run(command, cwd=ROOT, env=child_env(), capture_output=True, text=True, check=False)
    wall = time.monotonic() - started
    (scratch / f"run{index}.log").write_text(proc.stdout + proc.stderr)
    data = load_results(results_dir / "latest.json")
    print(f"run {index}: exit {proc.returncode}, {wall:.0f} s", flush=True)
    kept = results_dir / "latest.json"
    return {
        "index": index,
        "exit": proc.returncode,
        "wall_s": wall,
        "data": data,
        "path": kept,
        "tail": proc.stdout[-3000:],
    }


def combined_history(runs: list[dict], path: Path) -> Path:
    """Every run in one history store, as a machine's nightly runs would be (`benchharness history append`)."""
    path.unlink(missing_ok=True)
    command = [sys.executable, "-m", "benchharness.cli", "history", "append", *(str(r["path"]) for r in runs)]
    subprocess.run([*command, "--history", str(path)], cwd=ROOT, env=child_env(), check=True, capture_output=True)
    return path


def pairwise(runs: list[dict], history: Path | None) -> list[dict]:
    """`benchharness compare RUN_i RUN_j --fail-on-regression --history H` for every pair: what the nightly gate says.

    `--history off` (None): no other run is known, so the between-run spread is unknown and only moves past
    run_factor are called. With `history` holding every run, each pair learns the spread from the others
    (compare leaves the two compared out), which needs stats.MIN_REPLICATES of them: five runs or more.
    """
    out = []
    where = "off" if history is None else str(history)
    for i, a in enumerate(runs):
        for b in runs[i + 1 :]:
            command = [sys.executable, "-m", "benchharness.cli", "compare", str(a["path"]), str(b["path"])]
            command += ["--fail-on-regression", "--history", where]
            proc = subprocess.run(command, cwd=ROOT, env=child_env(), capture_output=True, text=True, check=False)
            lines = proc.stdout.splitlines()

            def count(word: str, lines: list[str] = lines) -> int:
                return next((int(x.split()[0]) for x in lines if x[:1].isdigit() and f" {word}" in x), 0)

            out.append(
                {
                    "old": a["index"],
                    "new": b["index"],
                    "exit": proc.returncode,
                    "regressed": count("regressed past"),
                    "improved": count("improved past"),
                    "not_decided": count("not decided"),
                    "verdicts_changed": count("verdict(s) changed"),
                    "stdout": proc.stdout,
                    "command": "benchharness compare "
                    + f"run{a['index']}/latest.json run{b['index']}/latest.json --fail-on-regression --history "
                    + ("off" if history is None else "all-runs.sqlite"),
                }
            )
    return out


def analyse(runs: list[dict]) -> dict:
    statuses: dict[str, list[str]] = defaultdict(list)
    alarms: list[str] = []
    unconfirmed: list[str] = []  # called on the first measurement, not confirmed by the fresh child
    undecided: list[str] = []  # past the rounds' noise, the between-run spread unknown (issue 21)
    gate_total = inconclusive = 0
    for run in runs:
        for case in run["data"]["cases"]:
            for v in case["verdicts"]:
                if v["check"] == "gate":
                    statuses[f"{case['key']} {v['name']}"].append(v["status"])
                    gate_total += 1
                    inconclusive += v["status"] == "inconclusive"
                if v["check"] in ("baseline", "ratio") and run["index"] > 1:
                    if v["status"] == "fail":
                        alarms.append(f"run {run['index']}: {case['key']}: {v['message']}")
                    elif v.get("direction") == "unknown":
                        undecided.append(f"run {run['index']}: {case['key']}: {v['message']}")
                    elif v["status"] == "inconclusive":
                        unconfirmed.append(f"run {run['index']}: {case['key']}: {v['message']}")
    flips = {k: s for k, s in statuses.items() if "pass" in s and "fail" in s}
    return {
        "gate_verdicts": gate_total,
        "inconclusive": inconclusive,
        "inconclusive_rate": inconclusive / gate_total if gate_total else None,
        "flips": flips,
        "regression_alarms": alarms,
        "unconfirmed_first_calls": unconfirmed,
        "not_decided_between_runs": undecided,
        "per_gate": dict(sorted(statuses.items())),
    }


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument(
        "--from-results", nargs="+", type=Path, help="analyse saved latest.json files instead of running"
    )
    parser.add_argument(
        "--keep", type=Path, help="keep each run's results, log and the scratch baseline in this folder"
    )
    parser.add_argument(
        "--meta",
        type=Path,
        help="with --from-results: an earlier aa_stability.json whose runs' exit and wall time to keep",
    )
    parser.add_argument(
        "--history-all",
        action="store_true",
        help="compare each pair with every run in one history store (all-runs.sqlite), not --history off",
    )
    parser.add_argument("--name", default="aa_stability", help="file stem of the record in benchmarks/results/")
    parser.add_argument("--ran", help="with --from-results: the command that made the runs, for the record")
    parser.add_argument("pytest_args", nargs="*")
    args = parser.parse_args()
    if args.from_results:
        runs = [
            {"index": i, "exit": None, "wall_s": float("nan"), "data": load_results(p), "path": p}
            for i, p in enumerate(args.from_results, 1)
        ]
        if args.meta:
            for run, meta in zip(runs, json.loads(args.meta.read_text())["runs"], strict=True):
                run.update(exit=meta["exit"], wall_s=meta["wall_s"])
    elif args.keep:
        args.keep.mkdir(parents=True, exist_ok=True)
        print(f"children import benchharness from {package_imported()}", flush=True)
        runs = [run_suite(i, args.keep, args.pytest_args) for i in range(1, args.runs + 1)]
    else:
        print(f"children import benchharness from {package_imported()}", flush=True)
        with tempfile.TemporaryDirectory(prefix="benchharness-aa-") as tmp:
            runs = [run_suite(i, Path(tmp), args.pytest_args) for i in range(1, args.runs + 1)]
    history = None
    if args.history_all:
        history = combined_history(runs, Path(runs[0]["path"]).parent.parent / "all-runs.sqlite")
    command = "python benchmarks/aa_stability.py " + " ".join(shlex.quote(a) for a in sys.argv[1:])
    return write_summary(args.ran or command, command, runs, history, args.name)


def write_summary(made_by: str, command: str, runs: list[dict], history: Path | None, name: str) -> int:
    summary = analyse(runs)
    summary["pairwise_compare"] = pairwise(runs, history)
    summary["runs"] = [{k: r[k] for k in ("index", "exit", "wall_s")} for r in runs]
    summary["git_commit"] = runs[0]["data"]["run"].get("git_commit")
    summary["machine"] = runs[0]["data"]["run"]["machine"]
    summary["command"] = made_by
    summary["analysed_by"] = command
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{name}.json").write_text(json.dumps(summary, indent=2, sort_keys=True) + "\n")
    where = "off" if history is None else "all-runs.sqlite (every run of the record)"
    lines = [
        "# A/A stability: unchanged code, run after run",
        "",
        f"Runs made by: `{summary['command']}` (run 1 saves a scratch baseline, runs 2..N compare with it)",
        f"at commit {summary['git_commit']}; analysed by `{command}`.",
        f"Machine: {summary['machine']['id']} ({summary['machine']['cpu']}, ISA {' '.join(summary['machine'].get('isa', []))}).",
        "",
        "| run | exit | wall time |",
        "|---:|---:|---:|",
        *[f"| {r['index']} | {r['exit']} | {r['wall_s'] / 60:.1f} min |" for r in summary["runs"]],
        "",
        f"- gate verdicts: {summary['gate_verdicts']} over {len(runs)} runs",
        f"- **gate-verdict flips (pass <-> fail): {len(summary['flips'])}**",
        f"- **regression alarms after confirmation (runs 2..N): {len(summary['regression_alarms'])}**",
        f"- regressions called on a first measurement but not confirmed by the fresh child: {len(summary['unconfirmed_first_calls'])}",
        f"- baseline-check moves past the rounds' noise but not decided between runs (spread unknown): {len(summary['not_decided_between_runs'])}",
        f"- inconclusive: {summary['inconclusive']} ({(summary['inconclusive_rate'] or 0):.1%} of gate verdicts)",
        "",
        f"`benchharness compare` pairwise (`--fail-on-regression --history {where}`):",
        "",
        "| old -> new | exit | regressed | improved | not decided | verdicts changed |",
        "|---|---:|---:|---:|---:|---:|",
        *[
            f"| run {c['old']} -> run {c['new']} | {c['exit']} | {c['regressed']} | {c['improved']} | {c['not_decided']} | {c['verdicts_changed']} |"
            for c in summary["pairwise_compare"]
        ],
        "",
        "Per gate, the status in each run:",
        "",
        *[f"- {k}: {' / '.join(v)}" for k, v in summary["per_gate"].items()],
        *(
            ["", "Regression alarms:", *[f"- {a}" for a in summary["regression_alarms"]]]
            if summary["regression_alarms"]
            else []
        ),
    ]
    for c in summary["pairwise_compare"]:
        lines += ["", f"`{c['command']}` (exit {c['exit']}):", "", "```", *c["stdout"].splitlines(), "```"]
    (RESULTS / f"{name}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
