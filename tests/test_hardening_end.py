"""The end of a run, and foreign options and faults around it, tried from outside as a user meets them.

Same house pattern as test_hardening.py (its project, runner and one-line matcher): pytest in a
subprocess on the digits suite on ONNX Runtime, asserting the exit status and the one line that says
what was wrong, the value and the fix. Every step after the measurements (results, pytest-benchmark
JSON, history, report, baselines) fails alone with its line, and the others still happen.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from conftest import DIGITS_MACHINE, child_env, child_pytest_command, digits_project, one_line, run_digits

pytest.importorskip("onnxruntime", reason="pip install 'benchharness[onnx]'")
pytest.importorskip("sklearn", reason="pip install 'benchharness[exporters]'")

REPO = Path(__file__).resolve().parents[1]


def _no_traceback(output: str) -> None:
    assert "Traceback" not in output and "INTERNALERROR" not in output, output[-3000:]


@pytest.mark.parametrize(
    "history,files,message",
    [
        pytest.param(
            "sqlite:////proc/nope/h.sqlite",
            {},
            r"cannot create the folder /proc/nope \(.+\); make it writable, name another file with --history, or --history off",
            id="folder-cannot-be-created",
        ),
        pytest.param(
            "sqlite:///blocked/h.sqlite",
            {"blocked": "a file"},
            r"blocked is a file, not a folder; move it away, name another file with --history, or --history off",
            id="folder-is-a-file",
        ),
    ],
)
@pytest.mark.e2e
def test_a_history_that_cannot_be_opened_fails_alone(tmp_path, history, files, message):
    root = digits_project(tmp_path, files={f"baselines/{DIGITS_MACHINE}.json": "{", **files})
    code, output = run_digits(root, f"--history={history}", "--save-baseline")
    assert code == 1, output[-3000:]
    _no_traceback(output)
    one_line(output, r"^history NOT appended: history sqlite:///.*h\.sqlite cannot be opened: " + message)
    # Every other step still happened, or said why not in its own line.
    results = one_line(output, r"^results: ")
    assert "(pytest-benchmark format: results-" in results
    assert (root / "reports" / "latest.json").is_file() and (root / "reports" / "latest.html").is_file()
    assert one_line(output, r"^report: ").endswith(".html")
    one_line(output, r"^baselines NOT saved: baseline file .* is not valid JSON")


@pytest.mark.e2e
def test_results_that_cannot_be_written_still_leave_the_report_and_the_baselines(tmp_path):
    root = digits_project(tmp_path, files={"reports": "a file where the folder should be"})
    code, output = run_digits(root, "--report=out/r.html", "--history=h.sqlite", "--save-baseline")
    assert code == 1, output[-3000:]
    _no_traceback(output)
    assert "reports is a file, not a folder" in one_line(output, r"^results NOT written: ")
    assert "reports is a file, not a folder" in one_line(output, r"^pytest-benchmark JSON NOT written: ")
    assert one_line(output, r"^history: ") == f"history: 1 run(s) of this machine in sqlite:///{root / 'h.sqlite'}"
    assert one_line(output, r"^report: ") == "report: out/r.html (made the folder out/)"
    assert (root / "out" / "r.html").is_file()
    assert one_line(output, r"^baselines: ").startswith("baselines: saved 2 case(s)")
    assert (root / "reports").read_text() == "a file where the folder should be"  # nothing stored is lost


@pytest.mark.e2e
def test_a_file_that_is_no_database_is_named_not_blamed_on_a_server(tmp_path):
    root = digits_project(tmp_path, files={"notes.txt": "lab notes", "reports/history.sqlite": "not a database either"})
    code, output = run_digits(root, "--history=notes.txt")
    assert code == 4, output[-3000:]
    line = one_line(output, "^ERROR: ")
    assert f"--history 'notes.txt': {root / 'notes.txt'} is not an SQLite database (it starts with b'lab note')" in line
    # The default store is best effort: a broken one is named at the end and the run still passes.
    code, output = run_digits(root)
    assert code == 0, output[-3000:]
    line = one_line(output, "^history NOT appended: ")
    assert "DatabaseError: file is not a database" in line
    assert f"{root / 'reports' / 'history.sqlite'} is not an SQLite database; name a history file" in line
    assert "server" not in line
    assert (root / "reports" / "latest.html").is_file()


@pytest.mark.e2e
def test_a_known_breach_carries_its_verdict_into_junit_xml(tmp_path):
    # A speedup of 100x: a breach every machine measures, declared as known for int8.
    root = digits_project(tmp_path)
    text = (root / "pyproject.toml").read_text()
    breach = 'speedup = { min = 100.0, known_breaches = ["int8"] }'
    (root / "pyproject.toml").write_text(text.replace("speedup = false", breach))
    code, output = run_digits(root, "--junitxml=junit.xml", "-rx")
    assert code == 0, output[-3000:]
    (skipped,) = ET.parse(root / "junit.xml").getroot().iter("skipped")
    message = skipped.get("message", "")
    assert skipped.get("type") == "pytest.xfail"
    # The verdict itself, with its estimate, interval and threshold, not only the gate's name.
    assert re.search(r"speedup \S+x \[\S+x, \S+x\] \(min 100\.0+x, \d+ .*\): fail", message), message
    assert "[known breach, declared by the suite]" in message
    assert message in one_line(output, r"^XFAIL ")


def test_benchmark_only_is_refused_rather_than_measuring_nothing(tmp_path):
    pytest.importorskip("pytest_benchmark")
    root = digits_project(tmp_path)
    code, output = run_digits(root, "--benchmark-only")
    assert code == 4, output[-3000:]
    _no_traceback(output)
    line = one_line(output, "^ERROR: ")
    assert "--benchmark-only is pytest-benchmark's option: it skips every test without its `benchmark` fixture" in line
    assert not (root / "reports").exists()


def test_a_suite_that_is_not_declared_is_a_usage_error_not_a_collection_traceback(tmp_path):
    # The same place as --benchmark-only (parametrizing the suites): one line, exit 4, nothing run.
    root = digits_project(tmp_path, files={"test_e.py": SUITE_NAMED_E})
    code, output = run_digits(root)
    assert code == 4, output[-3000:]
    _no_traceback(output)
    line = one_line(output, "^ERROR: ")
    assert "benchharness: suite 'e' is not declared; add [tool.benchharness.suites.e] to pyproject.toml" in line


SUITE_NAMED_E = """
import pytest

@pytest.mark.benchsuite("e")
def test_e(bench_case, bench):
    bench.check(bench_case)
"""


def test_the_suites_name_a_disabled_plugin(tmp_path):
    done = subprocess.run(
        # Without the plugin --device is unknown too, so the command is pytest's own.
        [sys.executable, "-m", "pytest", "--collect-only", "-p", "no:benchharness", "suites/test_digits_classifier.py"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 4, output[-3000:]
    _no_traceback(output)
    line = one_line(output, "^ERROR: ")
    assert "the suites under suites/ need the benchharness pytest plugin" in line
    assert "is disabled on this command line (-p no:benchharness); drop that option" in line


def test_the_suites_run_with_the_plugin_named_by_hand_where_no_entry_point_loads(tmp_path):
    """The fix the error names works: -p benchharness.plugin (a lent GPU machine runs the checkout so)."""
    command = [sys.executable, "-m", "pytest", "--collect-only", "-q", "-p", "no:cacheprovider"]
    env = {**os.environ, "PYTEST_DISABLE_PLUGIN_AUTOLOAD": "1"}
    suite = "suites/test_digits_classifier.py"
    done = subprocess.run([*command, suite], cwd=REPO, capture_output=True, text=True, timeout=300, env=env)
    assert done.returncode == 4
    assert "is installed but not loaded (PYTEST_DISABLE_PLUGIN_AUTOLOAD is set?); add -p benchharness.plugin" in (
        one_line(done.stdout + done.stderr, "^ERROR: ")
    )
    done = subprocess.run(
        [*command, "-p", "benchharness.plugin", suite], cwd=REPO, capture_output=True, text=True, timeout=300, env=env
    )
    assert done.returncode == 0, (done.stdout + done.stderr)[-3000:]
    assert "test_classification[digits-mlp-int8-onnxruntime-cpu]" in done.stdout


def _tiny_disk_available() -> bool:
    """Whether this machine lets an unprivileged user mount a tmpfs in a private namespace (most Linux does)."""
    if shutil.which("unshare") is None:
        return False
    probe = ["unshare", "--user", "--map-root-user", "--mount", "sh", "-c", "mount -t tmpfs -o size=1m none /mnt"]
    return subprocess.run(probe, capture_output=True).returncode == 0


@pytest.mark.slow
def test_a_full_cache_disk_is_said_before_preparing(tmp_path):
    if not _tiny_disk_available():
        pytest.skip("needs unshare and user namespaces to mount a 1 MiB tmpfs as the cache")
    root = digits_project(tmp_path / "project")
    cache = tmp_path / "cache"
    cache.mkdir()
    mount = 'mount -t tmpfs -o size=1m none "$0" && exec "$@"'
    done = subprocess.run(
        ["unshare", "--user", "--map-root-user", "--mount", "sh", "-c", mount, str(cache), *child_pytest_command()],
        cwd=root,
        capture_output=True,
        text=True,
        env=child_env({"BENCHHARNESS_MACHINE": DIGITS_MACHINE, "BENCHHARNESS_CACHE": str(cache)}),
        timeout=600,
    )
    output = done.stdout + done.stderr
    assert done.returncode == 1, output[-3000:]
    _no_traceback(output)
    line = one_line(output, r"prepare digits-mlp onnx fp32: no room in the cache")
    assert f"{cache / 'onnx' / 'digits-mlp'} has " in line
    assert "train-digits-mlp needs about 32.0 MiB (32.0 MiB headroom); free space on that disk" in line
    assert "BENCHHARNESS_CACHE to a folder on a disk with room" in line
