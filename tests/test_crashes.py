"""Crashes a user can act on: planted signals in real children, seen in the terminal, the results and the report.

The fake backend (the toy project in tests/conftest.py) kills its own child with SIGILL, SIGSEGV or SIGKILL,
or dies of SIGILL only on its default path ("repack"), as llama.cpp's AMX repacking does on a VM that
advertises AMX and traps it. The pure parts (diagnosis, tails, the faulted-path record) are tested directly.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

from benchharness import crashes
from benchharness.crashes import Crash
from benchharness.faults import FaultedPath
from conftest import child_env, child_pytest_command, latest, toy_pyproject, write_toy_project

KERNEL_SIGILL = (
    "traps: python3[4242] trap invalid opcode ip:7f3a1c2b4d10 sp:7ffd2a1b3c40 error:0 "
    "in libggml-cpu.so[7f3a1c200000+1a3000]"
)
FAULTHANDLER = [
    "Fatal Python error: Illegal instruction",
    "",
    "Current thread 0x00007f3a1d4c2740 (most recent call first):",
    '  File "/site-packages/benchharness/backends/llamacpp.py", line 131 in _decode',
    '  File "/site-packages/benchharness/backends/llamacpp.py", line 160 in decode',
]


def test_sigill_names_the_instruction_the_library_the_call_and_the_fix():
    crash = crashes.diagnose(-4, FAULTHANDLER, [KERNEL_SIGILL])
    assert crash.signal == "SIGILL"
    assert crash.library == "libggml-cpu.so"
    assert crash.frame == "llamacpp.py:131 in _decode"
    message = crash.message("m-q4_0-llamacpp-cpu")
    assert message.startswith("m-q4_0-llamacpp-cpu: child process died from SIGILL (illegal instruction: ")
    assert (
        " in libggml-cpu.so during llamacpp.py:131 in _decode. Fix: reinstall the runtime built for a generic CPU"
        in message
    )
    assert "\n" not in message


def test_each_fatal_signal_has_a_meaning_and_a_fix():
    for number, words in ((-11, "segmentation fault"), (-7, "disk (or /dev/shm) is full"), (-6, "aborted")):
        crash = crashes.diagnose(number, [], [])
        assert words in crash.meaning and crash.fix
    killed = crashes.diagnose(-9, [], [], peak_rss_bytes=3 * 2**30, available_bytes=2**28, total_bytes=8 * 2**30)
    assert "out-of-memory killer" in killed.meaning
    assert "used up to 3072 MiB while the machine had 256 MiB of 8192 MiB available" in killed.message("c")
    assert crashes.diagnose(-99, [], []).signal == "signal 99"


def test_tail_keeps_lines_whole_or_cuts_them_at_a_word():
    lines = ["", "first", "x" * 10, "word " * 200, "last line"]
    kept = crashes.tail(lines, count=3, width=50)
    assert kept[0] == "x" * 10 and kept[2] == "last line"
    assert kept[1].endswith("word ...") and len(kept[1]) <= 54


def test_faulted_path_names_the_advertised_feature_the_build_used():
    crash = Crash("SIGILL", "illegal instruction", "fix", "libggml-cpu.so", None, None, None, None, None)
    fault = FaultedPath(
        "llamacpp",
        "cpu",
        "m-q8_0",
        "extra buffers off",
        crash.signal,
        crash.library,
        crash.frame,
        ("amx_bf16", "amx_int8", "amx_tile", "avx512f"),
    )
    native = fault.with_build("SSE3 AVX AVX2 AVX512 AMX_INT8 REPACK")
    assert native.suspects == ("amx_int8",)
    assert "advertised but not usable here: amx_int8" in native.warning()
    portable = fault.with_build("SSE3 AVX AVX2 F16C FMA REPACK")
    assert portable.suspects == ()


def _report(pytester: pytest.Pytester) -> str:
    (path,) = (pytester.path / "reports").glob("report-*.html")
    return path.read_text()


@pytest.mark.parametrize(
    ("mode", "cause"),
    [
        ("sigill", "child process died from SIGILL (illegal instruction: "),
        ("sigsegv", "child process died from SIGSEGV (segmentation fault: "),
        (
            "sigkill",
            "child process died from SIGKILL (killed by SIGKILL: most likely the kernel's out-of-memory killer",
        ),
    ],
)
@pytest.mark.slow
def test_planted_crash_says_the_same_in_terminal_results_and_report(toy_project, pytester, mode, cause):
    result = toy_project(["ref", mode, "ok"])
    result.assert_outcomes(passed=2, failed=1)
    case_id = f"toy-{mode}-fake-cpu"
    result.stdout.fnmatch_lines([f"*{case_id}: {cause}*Fix: *"])
    assert "During handling of the above exception" not in result.stdout.str()
    stored = {c["id"]: c for c in latest(pytester.path)["cases"]}[case_id]
    assert stored["outcome"] == "failed"
    assert stored["message"].startswith(f"{case_id}: {cause}")
    assert isinstance(stored["log_tail"], list)
    if mode != "sigkill":  # faulthandler cannot print on SIGKILL
        assert any("most recent call first" in line for line in stored["log_tail"]), stored["log_tail"]
        assert "during fakebackend.py:" in stored["message"]
    report = _report(pytester)
    failed_section = report.split('<section class="failures"', 1)[1].split("</section>", 1)[0]
    assert case_id in failed_section and cause.split(" (")[0] in failed_section
    skipped = re.search(r"<details><summary>\d+ case\(s\) not measured.*?</details>", report, re.S)
    assert skipped is None or case_id not in skipped.group(0)
    assert "fake: 1 variant(s) crashed on this machine (" + mode + ")" in report  # the recommendation says so


@pytest.mark.slow
def test_a_fast_path_that_dies_of_sigill_falls_back_and_every_row_says_so(toy_project, pytester):
    result = toy_project(["ref", "repack", "ok"])
    result.assert_outcomes(passed=3)
    warning = "measured with the fake's repacking off: the default path died of SIGILL (illegal instruction)"
    result.stdout.fnmatch_lines([f"warning: toy-repack-fake-cpu: {warning}*"])
    data = latest(pytester.path)
    cases = {c["id"]: c for c in data["cases"]}
    assert any(w.startswith(warning) for w in cases["toy-repack-fake-cpu"]["warnings"])
    assert any(w.startswith(warning) for w in cases["toy-ok-fake-cpu"]["warnings"])  # measured after the fault
    assert not cases["toy-ref-fake-cpu"]["warnings"] or not any(
        w.startswith(warning) for w in cases["toy-ref-fake-cpu"]["warnings"]
    )  # measured before it, on the default path
    (fault,) = data["run"]["machine"]["faulted_paths"]
    assert fault["backend"] == "fake" and fault["first_case"] == "toy-repack-fake-cpu" and fault["signal"] == "SIGILL"
    report = _report(pytester)
    assert "faulted path" in report and warning in report


@pytest.mark.slow
def test_a_crash_in_safe_mode_too_fails_with_the_cause(toy_project, pytester):
    result = toy_project(["ref", "repack", "sigill"])
    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines(["*toy-sigill-fake-cpu: child process died from SIGILL*"])


@pytest.mark.slow
def test_a_child_exception_is_named_once_without_its_chain(toy_project, pytester):
    result = toy_project(["ref", "chained"])
    result.assert_outcomes(passed=1, failed=1)
    stored = {c["id"]: c for c in latest(pytester.path)["cases"]}["toy-chained-fake-cpu"]
    assert stored["message"] == (
        "toy-chained-fake-cpu: the child raised RuntimeError: outer failure while handling the inner one "
        "(its traceback is in the output below)"
    )
    assert any("During handling" in line for line in stored["log_tail"]) or stored["log_tail"]
    # The failure section names it twice (the message and the tail's last line), never the whole chain again.
    # The short summary is left out: pytest prints it whole under CI (the CI variable) and cut to one line elsewhere.
    failures = result.stdout.str().split("short test summary info", 1)[0]
    assert failures.count("RuntimeError: outer failure while handling the inner one") <= 2


def test_results_of_schema_3_load_with_an_empty_tail(tmp_path: Path):
    from run_documents import case, run

    from benchharness.results import load_runs

    document = run([case("q4_0", 50.0)])
    document["schema_version"] = 3  # as version 3 wrote it: no log_tail, the variant called quant
    for c in document["cases"]:
        c["quant"] = c.pop("variant")
        c.pop("log_tail", None)
    path = tmp_path / "old.json"
    path.write_text(json.dumps(document))
    (run,) = load_runs(path)
    assert all(c.log_tail == () for c in run.cases)


# ---------------------------------------------------------------------------------------------
# A stuck worker dies with its run, however the run ends.


def _stuck_run(tmp_path: Path) -> tuple[subprocess.Popen[bytes], psutil.Process, Path]:
    """pytest on the fake backend in a subprocess, once its "stuck" child sits in native code ignoring SIGTERM."""
    write_toy_project(tmp_path)
    (tmp_path / "pyproject.toml").write_text(toy_pyproject(["ref", "stuck"], timeout=600))
    cache = tmp_path / "cache"
    env = child_env({"BENCHHARNESS_CACHE": str(cache)})
    command = child_pytest_command("--no-baseline")
    proc = subprocess.Popen(command, cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        for child in psutil.Process(proc.pid).children(recursive=True):
            try:
                command = child.cmdline()
            except psutil.Error:  # a worker that just ended
                continue
            request = Path(command[-2])
            if "benchharness.worker" in command and request.is_file() and "stuck.gguf" in request.read_text():
                time.sleep(1.0)  # let it reach the native call
                return proc, child, cache
        time.sleep(0.1)
    proc.kill()
    pytest.fail("the stuck case's worker did not start within 120 s")


def _gone_within(process: psutil.Process, seconds: float) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if not process.is_running() or process.status() == psutil.STATUS_ZOMBIE:
            return True
        time.sleep(0.1)
    return False


@pytest.mark.slow
def test_a_worker_deaf_to_sigterm_dies_within_seconds_of_a_kill_9_of_its_run(tmp_path):
    proc, worker, cache = _stuck_run(tmp_path)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    try:
        assert _gone_within(worker, 5.0), "the worker outlived its run by more than 5 s"
    finally:
        if worker.is_running():
            worker.kill()
    assert (cache / "jobs").is_dir()  # the next run sweeps what the killed one left (test_hardening)


@pytest.mark.slow
def test_sigterm_stops_the_run_like_ctrl_c_and_the_stuck_worker_goes_with_it(tmp_path):
    proc, worker, cache = _stuck_run(tmp_path)
    proc.send_signal(signal.SIGTERM)
    try:
        assert proc.wait(timeout=60) == 2  # pytest's "interrupted"
        assert _gone_within(worker, 5.0)
    finally:
        if worker.is_running():
            worker.kill()
    assert list((cache / "jobs").glob("*")) == []


def test_the_sweep_keeps_a_live_workers_job_and_removes_a_dead_or_zombie_ones(tmp_path):
    from benchharness import leftovers

    dead_run = 2**22 + 7  # no process has this pid (above the default pid_max of 2**22)
    live = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)", "benchharness.worker"])
    zombie = subprocess.Popen([sys.executable, "-c", "pass", "benchharness.worker"])
    try:
        while psutil.Process(zombie.pid).status() != psutil.STATUS_ZOMBIE:  # exited, not yet reaped
            time.sleep(0.05)
        for name, worker in (("live", live.pid), ("zombie", zombie.pid), ("reused", os.getpid())):
            job = tmp_path / "jobs" / f"{dead_run}-{name}"
            job.mkdir(parents=True)
            (job / "worker.pid").write_text(str(worker))  # "reused": a pid now held by another program
        count, _ = leftovers.sweep(tmp_path)
        assert count == 2
        assert [p.name for p in (tmp_path / "jobs").iterdir()] == [f"{dead_run}-live"]
    finally:
        live.kill()
        live.wait()
        zombie.wait()
