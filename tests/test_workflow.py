"""The nightly lab workflow: a matrix over the lab's machine kinds, a merge job, and commands our CLI accepts."""

import re
import shlex
from pathlib import Path

import yaml

from benchharness.cli import parser

WORKFLOW = Path(__file__).resolve().parents[1] / ".github" / "workflows" / "nightly-lab.yml"


def test_the_matrix_covers_the_lab_and_each_machine_names_itself():
    jobs = yaml.safe_load(WORKFLOW.read_text())["jobs"]
    rows = jobs["bench"]["strategy"]["matrix"]["include"]
    assert {r["machine"] for r in rows} == {"x86-avx512", "nvidia-gpu", "apple-silicon", "intel-npu"}
    assert all("self-hosted" in r["labels"] for r in rows)
    assert jobs["bench"]["env"]["BENCHHARNESS_MACHINE"] == "${{ matrix.machine }}"
    assert jobs["bench"]["strategy"]["fail-fast"] is False
    run = " ".join(s.get("run", "") for s in jobs["bench"]["steps"])
    assert "pytest suites/ --device=auto" in run and "--junitxml=" in run and "--report=" in run
    assert jobs["lab-report"]["needs"] == "bench" and jobs["lab-report"]["if"] == "always()"


def test_the_lab_job_calls_benchharness_as_its_cli_parses_it():
    steps = yaml.safe_load(WORKFLOW.read_text())["jobs"]["lab-report"]["steps"]
    commands = [
        line.strip().rstrip("\\").strip()
        for s in steps
        for line in re.sub(r"\\\n\s*", " ", s.get("run", "")).splitlines()
        if line.strip().startswith("benchharness ")
    ]
    assert {c.split()[1] for c in commands} == {"merge", "compare", "history"}
    for command in commands:
        words = shlex.split(command.split("|")[0].replace('${BENCH_HISTORY_URL:+--history "$BENCH_HISTORY_URL"}', ""))
        args = parser().parse_args(words[1:])  # exits (fails the test) on an option the CLI does not have
        if args.command == "compare":
            assert args.fail_on_regression and args.html == "lab-compare.html"
        if args.command == "history":
            assert args.action == "digest" and args.json == "lab-alarms.json" and args.history


def test_a_step_that_pipes_a_benchharness_command_keeps_its_exit_status():
    """GitHub's default shell is `bash -e` (no pipefail): `compare ... | tee` would never fail the step."""
    jobs = yaml.safe_load(WORKFLOW.read_text())["jobs"]
    piped = [
        s for job in jobs.values() for s in job["steps"] if "benchharness " in s.get("run", "") and "| " in s["run"]
    ]
    assert piped, "the compare step pipes into tee"
    for step in piped:
        assert step.get("shell") == "bash", f"{step['name']}: set `shell: bash` (-eo pipefail)"


def test_compare_reads_the_lab_history_when_there_is_one():
    steps = yaml.safe_load(WORKFLOW.read_text())["jobs"]["lab-report"]["steps"]
    (step,) = [s for s in steps if "benchharness compare" in s.get("run", "")]
    assert '${BENCH_HISTORY_URL:+--history "$BENCH_HISTORY_URL"}' in step["run"]
    assert step["env"]["BENCH_HISTORY_URL"] == "${{ secrets.BENCH_HISTORY_URL }}"
