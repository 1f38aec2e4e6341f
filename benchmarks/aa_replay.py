"""Replay judge.across_runs over recorded runs of unchanged code: the gate verdicts with and without it.

    python benchmarks/aa_replay.py RUN1/latest.json RUN2/latest.json ... --name aa_stability_replay

The runs are taken in the order given, as a machine's nightly history would hold them: run k is judged
with runs 1..k-1 as its earlier runs (the last HISTORY_RUNS of them, as the session reads the history
store). Each gate verdict's status before the rule is the one recorded, or, where the run was made with an
earlier form of the rule (its message carries " -- across runs:"), the one its own interval decides
(stats.decide on the recorded low/high). Counted: pass <-> fail flips between any two runs of a (case, gate),
before and after the rule, and the inconclusive verdicts the rule adds. A replay, not a new measurement:
the figures are the recorded ones. Writes benchmarks/results/NAME.md.
"""

from __future__ import annotations

import argparse
import sys
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchharness import judge, stats  # noqa: E402
from benchharness.baseline_check import HISTORY_RUNS  # noqa: E402
from benchharness.gates import find_gate  # noqa: E402
from benchharness.results import load_results  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"


def recorded(verdict: dict) -> judge.Verdict:
    """The gate verdict as the run judged it before any across-runs rule."""
    status = verdict["status"]
    if " -- across runs:" in verdict["message"] and verdict.get("low") is not None:
        interval = stats.Interval(verdict["estimate"], verdict["low"], verdict["high"], verdict.get("n") or 0, 0.95, "")
        status = stats.decide(interval, verdict["threshold"])
    message = verdict["message"].split(" -- across runs:")[0]
    return judge.Verdict(
        "gate",
        verdict["name"],
        status,
        message,
        verdict["estimate"],
        verdict["low"],
        verdict["high"],
        verdict["threshold"],
        verdict.get("n"),
    )


def flips(statuses: list[str]) -> int:
    """Pairs of runs whose statuses are pass and fail."""
    return sum(1 for i, a in enumerate(statuses) for b in statuses[i + 1 :] if {a, b} == {"pass", "fail"})


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("results", nargs="+", type=Path)
    parser.add_argument("--name", default="aa_stability_replay")
    args = parser.parse_args()
    before: dict[tuple[str, str], list[str]] = defaultdict(list)
    after: dict[tuple[str, str], list[str]] = defaultdict(list)
    history: dict[tuple[str, str], list[float]] = defaultdict(list)
    changed: list[str] = []
    for index, path in enumerate(args.results, 1):
        data = load_results(path)  # migrated: older runs' files read as this version's
        for case in data["cases"]:
            for raw in case["verdicts"]:
                if raw["check"] != "gate" or raw.get("estimate") is None or raw.get("threshold") is None:
                    continue
                key = (case["key"], raw["name"])
                verdict = recorded(raw)
                gate = find_gate(raw["name"])
                earlier = history[key][-HISTORY_RUNS:] if gate is not None and gate.confirmable else []
                judged = judge.across_runs(verdict, earlier)
                before[key].append(verdict.status)
                after[key].append(judged.status)
                if judged.status != verdict.status:
                    changed.append(
                        f"run {index}: {key[0]} {key[1]}: {verdict.status} -> {judged.status}{judged.message[len(verdict.message) :]}"
                    )
                history[key].append(verdict.estimate)
    ran = "python3 benchmarks/aa_replay.py " + " ".join(str(p) for p in args.results) + f" --name {args.name}"
    lines = [
        "# Replay of the across-runs gate rule over recorded A/A runs",
        "",
        f"Ran: `{ran}` (a replay of recorded figures, no new measurement; run k judged with runs 1..k-1 as history).",
        "",
        f"- gate verdicts: {sum(len(v) for v in before.values())} over {len(args.results)} runs",
        f"- **pass <-> fail flips without the rule: {sum(flips(v) for v in before.values())}** "
        f"(gates: {', '.join(f'{k[0]} {k[1]}' for k, v in before.items() if flips(v)) or 'none'})",
        f"- **pass <-> fail flips with it: {sum(flips(v) for v in after.values())}** "
        f"(gates: {', '.join(f'{k[0]} {k[1]}' for k, v in after.items() if flips(v)) or 'none'})",
        f"- inconclusive without / with: {sum(v.count('inconclusive') for v in before.values())} / "
        f"{sum(v.count('inconclusive') for v in after.values())}",
        "",
        "Per gate whose status differs between runs (without the rule | with it):",
        "",
    ]
    for key in before:
        if len(set(before[key])) > 1 or len(set(after[key])) > 1:
            lines.append(f"- {key[0]} {key[1]}: {' / '.join(before[key])} | {' / '.join(after[key])}")
    lines += ["", "What the rule changed:", ""] + [f"- {c}" for c in changed]
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{args.name}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
