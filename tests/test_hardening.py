"""Bad inputs and faults, tried from outside as a new user (or an unattended lab) would meet them.

Every case runs pytest (or the CLI) in a subprocess on a fresh project and asserts the exit status and
the one line that says what was wrong, the value and the fix. Start-up errors exit 4 (pytest's usage
error) before anything is measured; a fault found while running fails the run (exit 1) with its reason.
The project is the digits suite on ONNX Runtime: real measurements in seconds.
"""

from __future__ import annotations

import json
import re
import signal
import subprocess
import time
from pathlib import Path

import psutil
import pytest

from conftest import DIGITS_MACHINE, child_env, child_pytest_command, digits_project, one_line, run_cli, run_digits

pytest.importorskip("onnxruntime", reason="pip install 'benchharness[onnx]'")
pytest.importorskip("sklearn", reason="pip install 'benchharness[exporters]'")

# (what is wrong, pyproject extra, command-line args, environment, the one-line message as a regex)
STARTUP_ERRORS = [
    (
        "NaN min_time_s",
        "",
        ["--bench-set=workload.min_time_s=nan"],
        {},
        r"--bench-set\.workload\.min_time_s = nan is out of range; it must be in 0\.0\.\.3600\.0",
    ),
    ("infinite confidence", "", ["--bench-set=trials.confidence=inf"], {}, r"trials\.confidence = inf is out of range"),
    ("NaN min_effect", "", ["--bench-set=baseline.min_effect=nan"], {}, r"baseline\.min_effect = nan is out of range"),
    (
        "removed noise_k",
        "",
        ["--bench-set=baseline.noise_k=nan"],
        {},
        r"baseline\.noise_k is no longer a setting: .*delete the key",
    ),
    (
        "negative infinite timeout",
        "",
        ["--bench-set=case_timeout_s=-inf"],
        {},
        r"case_timeout_s = -inf is out of range",
    ),
    (
        "NaN gate minimum",
        "[tool.benchharness.suites.d.gates.accuracy_retained]\nmin = nan",
        [],
        {},
        r"pyproject\.toml .*gates\.accuracy_retained\.min = nan is out of range; it must be in 0\.0\.\.1\.0",
    ),
    (
        "gate variants typo",
        '[tool.benchharness.suites.d.gates.accuracy_retained]\nvariants = ["int_8"]',
        [],
        {},
        r"suites\.d\] gates\.accuracy_retained\.variants: unknown value 'int_8'; valid: fp32, int8",
    ),
    (
        "known_breaches case typo",
        '[tool.benchharness.suites.d.gates.accuracy_retained]\nknown_breaches = ["INT8"]',
        [],
        {},
        r"gates\.accuracy_retained\.known_breaches: unknown value 'INT8'; valid: fp32, int8",
    ),
    (
        "suite device tpu",
        'devices = ["tpu"]',
        [],
        {},
        r"suites\.d\.devices names 'tpu', not a device type; valid: cpu, cuda, metal, gpu, npu",
    ),
    (
        "empty quants",
        "variants = []",
        [],
        {},
        r"suites\.d\.variants = \[\] names nothing; leave the key out to mean all",
    ),
    ("empty models", "[tool.benchharness.suites.e]\nmodels = []", [], {}, r"suites\.e\.models = \[\] names nothing"),
    ("empty devices", "devices = []", [], {}, r"suites\.d\.devices = \[\] names nothing"),
    (
        "empty gate quants",
        "[tool.benchharness.suites.d.gates.accuracy_retained]\nvariants = []",
        [],
        {},
        r"gates\.accuracy_retained\.variants = \[\] names nothing",
    ),
    (
        "suite model typo",
        '[tool.benchharness.suites.e]\nmodels = ["digits"]',
        [],
        {},
        r"suites\.e\] models: unknown value 'digits'; valid: digits-mlp, minilm-l6, smollm2-135m",
    ),
    (
        "suite backend typo",
        '[tool.benchharness.suites.e]\nbackends = ["onnx-runtime"]',
        [],
        {},
        r"suites\.e\] backends: unknown value 'onnx-runtime'; valid: .*onnxruntime",
    ),
    (
        "suite quant typo",
        'variants = ["fp32", "int9"]',
        [],
        {},
        r"suites\.d\] variants: unknown value 'int9'; valid: fp32, int8",
    ),
    (
        "baseline metric typo",
        '[tool.benchharness.baseline]\nmetrics = ["decode_tok_s"]',
        [],
        {},
        r"baseline\.metrics names 'decode_tok_s', not a tracked metric; valid: ",
    ),
    ("unknown --device", "", ["--device=tpu"], {}, r"unknown device 'tpu'; valid: auto, cpu, cuda, metal, gpu, npu"),
    (
        "--device index not a number",
        "",
        ["--device=cuda:x"],
        {},
        r"device 'cuda:x' has an index that is not a number; write it as cuda:N \(e\.g\. cuda:0\)",
    ),
    (
        "known breach on an unknown device kind",
        '[tool.benchharness.suites.d.gates.accuracy_retained]\nknown_breaches = ["int8@tpu"]',
        [],
        {},
        r"known_breaches \(after @\): unknown value 'tpu'; valid: cpu, cuda, gpu, metal, npu",
    ),
    ("unknown --variant", "", ["--variant=int_8"], {}, r"--variant: unknown value 'int_8'; valid: "),
    ("unknown --model", "", ["--model=digits"], {}, r"--model: unknown value 'digits'; valid: digits-mlp"),
    (
        "--variant no model has",
        "",
        ["--variant=zzz"],
        {},
        r"--variant: unknown value 'zzz'; valid: fp32, int8 \(suite d\); 4bit, .*q4_0.* are variants of other models$",
    ),
    ("empty --backend", "", ["--backend=,"], {}, r"--backend=',' names nothing; give a comma-separated list"),
    ("empty --gate", "", ["--gate="], {}, r"--gate='' names nothing; write NAME=MIN, e\.g\. --gate speedup=1\.5"),
    ("--gate not a number", "", ["--gate=speedup=fast"], {}, r"--gate 'speedup=fast': 'fast' is not a number"),
    (
        "--gate unknown name",
        "",
        ["--gate=speed=2"],
        {},
        r"--gate 'speed=2': expected NAME=MIN with NAME one of accuracy_retained, speedup, memory_reduction, energy_reduction",
    ),
    (
        "--gate out of range",
        "",
        ["--gate=accuracy_retained=1.5"],
        {},
        r"--gate accuracy_retained = 1\.5 is out of range; it must be in 0\.0\.\.1\.0",
    ),
    (
        "save and no-baseline",
        "",
        ["--save-baseline", "--no-baseline"],
        {},
        r"--save-baseline and --no-baseline contradict each other",
    ),
    (
        "bad --time-budget",
        "",
        ["--time-budget=soon"],
        {},
        r"--time-budget='soon' is not a duration; write e\.g\. 30m, 90s or 1h",
    ),
    ("--bench-config is a folder", "", ["--bench-config=."], {}, r"config file \. is a directory; name a \.toml file"),
    (
        "--bench-config missing",
        "",
        ["--bench-config=missing.toml"],
        {},
        r"config file missing\.toml does not exist; check the path",
    ),
    (
        "--bench-config not UTF-8",
        "",
        ["--bench-config=latin1.toml"],
        {},
        r"config file latin1\.toml is not UTF-8 text \(invalid start byte at byte 5\); save it as UTF-8",
    ),
    (
        "--bench-config not TOML",
        "",
        ["--bench-config=broken.toml"],
        {},
        r"config file broken\.toml is not valid TOML \(.*\); fix the syntax",
    ),
    (
        "--bench-set without =",
        "",
        ["--bench-set=threads"],
        {},
        r"--bench-set 'threads' must look like section\.key=value",
    ),
    (
        "--bench-set unknown key",
        "",
        ["--bench-set=workload.rounds=3"],
        {},
        r"--bench-set\.workload: unknown key 'rounds'; valid keys: ",
    ),
    (
        "--bench-set wrong type",
        "",
        ['--bench-set=workload.min_rounds="six"'],
        {},
        r"--bench-set\.workload\.min_rounds = 'six' must be int; fix it in your config",
    ),
    (
        "negative threads",
        "",
        ["--bench-set=threads=-1"],
        {},
        r"--bench-set\.threads = -1 is out of range; it must be in 0\.\.1024",
    ),
    (
        "machine id escaping its folder",
        "",
        [],
        {"BENCHHARNESS_MACHINE": "../../escaped"},
        r"BENCHHARNESS_MACHINE='\.\./\.\./escaped' is not a valid machine id",
    ),
    (
        "reference naming no variant",
        "",
        ["--bench-config=reference.toml"],
        {},
        r"models\.digits-mlp: reference = 'fp64' is not one of its variants \(fp32, int8\)",
    ),
    (
        "variant with path and quantize",
        "",
        ["--bench-config=both.toml"],
        {},
        r"variants\.mine: give exactly one of path = 'file\.gguf', quantize = 'Q4_0' or recipe = ",
    ),
    (
        "unsupported --history",
        "",
        ["--history=mysql://host/db"],
        {},
        r"--history 'mysql://host/db': unsupported database URL scheme",
    ),
    (
        "--baseline-file missing",
        "",
        ["--baseline-file=other.json"],
        {},
        r"--baseline-file other\.json is not a file; name a baselines/<machine>\.json",
    ),
    (
        "--variant and its old name --quant",
        "",
        ["--quant=int8", "--variant=fp32"],
        {},
        r"--variant=fp32 and --quant=int8: --variant is given under two names \(--quant is its old name\); "
        r"give one comma list, e\.g\. --variant=fp32,int8$",
    ),
    (
        "inconclusive policy typo",
        'inconclusive = "ignore"',
        [],
        {},
        r"suites\.d\.inconclusive = 'ignore' is unknown; valid: ",
    ),
]

CONFIG_FILES: dict[str, str | bytes] = {
    "latin1.toml": b'a = "\xff"\n',
    "broken.toml": "[workload\n",
    "reference.toml": '[models.digits-mlp]\nreference = "fp64"\n',
    "both.toml": '[models.smollm2-135m.variants]\nmine = { path = "m.gguf", quantize = "Q4_0" }\n',
}


@pytest.mark.parametrize("extra,args,env,message", [pytest.param(*c[1:], id=c[0]) for c in STARTUP_ERRORS])
def test_refused_at_start_up_in_one_line(tmp_path, extra, args, env, message):
    root = digits_project(tmp_path, extra, CONFIG_FILES)
    code, output = run_digits(root, *args, env=env)
    assert code == 4, output[-2000:]
    errors = [line for line in output.splitlines() if line.startswith("ERROR: ")]
    assert len(errors) == 1 and "Traceback" not in output and "INTERNALERROR" not in output, output[-2000:]
    assert re.search(message, errors[0]), errors[0]
    assert not (root / "reports").exists() and not (root / "baselines").exists()  # nothing written


def test_the_readme_spelling_works_inside_a_bench_config_file(tmp_path):
    # A table copied from pyproject.toml keeps its [tool.benchharness...] header: both spellings are read.
    root = digits_project(tmp_path, files={"x.toml": "[tool.benchharness.workload]\nmin_rounds = 0\n"})
    code, output = run_digits(root, "--bench-config=x.toml")
    assert code == 4 and "x.toml.workload.min_rounds = 0 is out of range" in one_line(output, "^ERROR")


@pytest.mark.e2e
def test_a_requested_baseline_that_cannot_be_saved_fails_the_run(tmp_path):
    root = digits_project(tmp_path, files={"baselines": "a file where the folder should be"})
    code, output = run_digits(root, "--save-baseline")
    assert code == 1, output[-2000:]
    line = one_line(output, "baselines NOT saved")
    assert "baselines is a file, not a folder; move it away or point the setting elsewhere" in line
    assert (root / "baselines").read_text() == "a file where the folder should be"  # nothing stored is lost


@pytest.mark.e2e
def test_a_nan_in_a_stored_baseline_is_named_and_nothing_is_overwritten(tmp_path):
    stored = {
        "schema_version": 2,
        "machine": {"id": DIGITS_MACHINE},
        "cases": {"d::old-case": {"metrics": {"batch1_latency_ms": {"value": float("nan")}}}},
    }
    text = json.dumps(stored)  # Python writes NaN, as a hand edit or another tool might
    root = digits_project(tmp_path, files={f"baselines/{DIGITS_MACHINE}.json": text})
    code, output = run_digits(root, "--save-baseline")
    assert code == 1, output[-2000:]
    line = one_line(output, "baselines NOT saved")
    assert "entry 'd::old-case' holds a non-finite number at metrics.batch1_latency_ms.value; nothing was saved" in line
    assert (root / "baselines" / f"{DIGITS_MACHINE}.json").read_text() == text


@pytest.mark.e2e
def test_a_report_that_cannot_be_written_fails_the_run(tmp_path):
    root = digits_project(tmp_path, files={"blocked": "a file"})
    code, output = run_digits(root, "--report=blocked/report.html")
    assert code == 1, output[-2000:]
    assert "blocked is a file, not a folder" in one_line(output, "report NOT written")


@pytest.mark.e2e
def test_a_baseline_not_compared_says_why_in_the_terminal(tmp_path):
    root = digits_project(tmp_path)
    code, output = run_digits(root)
    assert code == 0, output[-2000:]
    line = one_line(output, "baseline not compared")
    assert "for 2 case(s)" in line and f"none stored in {root / 'baselines' / DIGITS_MACHINE}.json" in line
    (root / "baselines" / "other-lab-host.json").parent.mkdir()
    code, output = run_digits(root, "--baseline-any-machine")
    assert "or name another machine's file with --baseline-file (here: none)" in one_line(output, "not compared")


@pytest.mark.e2e
def test_a_model_path_that_is_a_folder_fails_its_case_with_the_fix(tmp_path):
    variant = '[models.digits-mlp.variants]\nmine = { path = "m", format = "onnx" }\n'
    root = digits_project(tmp_path, files={"x.toml": variant, "m/readme.txt": "not a model"})
    code, output = run_digits(root, "--bench-config=x.toml", "--variant=mine", "-rA")
    assert code == 1
    assert "m is not a onnx model folder (no model.onnx); point the config at the model's folder" in output


@pytest.mark.e2e
def test_runs_that_measure_nothing_leave_the_last_results_alone(tmp_path):
    root = digits_project(tmp_path)
    code, output = run_digits(root)
    assert code == 0, output[-2000:]
    latest = (root / "reports" / "latest.json").read_text()
    written = sorted(p.name for p in (root / "reports").iterdir())
    assert run_digits(root, "--collect-only")[0] == 0
    pytest.importorskip("xdist")
    code, output = run_digits(root, "-n", "2")
    assert code == 0 and "2 skipped" in output, output[-2000:]
    assert (root / "reports" / "latest.json").read_text() == latest
    assert sorted(p.name for p in (root / "reports").iterdir()) == written


@pytest.mark.e2e
def test_result_names_cannot_collide(tmp_path):
    # Two runs started in the same second: each name carries microseconds and the process id.
    root = digits_project(tmp_path)
    command = child_pytest_command("--no-baseline")
    runs = [subprocess.Popen(command, cwd=root, env=child_env(), stdout=subprocess.DEVNULL) for _ in range(2)]
    assert [p.wait(timeout=600) for p in runs] == [0, 0]
    assert len(list((root / "reports").glob("results-*Z-*[0-9].json"))) == 2


def test_the_cli_refuses_bad_files_in_one_line(tmp_path):
    (tmp_path / "broken.json").write_text("{")
    for args, message in (
        (["compare", "missing.json", "broken.json"], "results file missing.json does not exist"),
        (["compare", "broken.json", "broken.json"], "results file broken.json is not valid JSON"),
    ):
        done = run_cli(tmp_path, *args)
        assert done.returncode == 2 and len(done.stderr.strip().splitlines()) == 1
        assert message in done.stderr


INPUTS = "pass a results .json (reports/results-*.json, latest.json), an HTML report or a lab's results.json"


@pytest.mark.parametrize(
    ("args", "what"),
    [  # a newcomer ran `compare pyproject.toml new.json` and was told to "re-record" their pyproject.toml
        (["compare", "pyproject.toml", "pyproject.toml"], "pyproject.toml is not a benchharness results file (not JSON: it begins '[tool.benchharness.workload]')"),
        (["compare", "package.json", "package.json"], "package.json is not a benchharness results file (JSON without a schema_version)"),
        (["compare", "reports", "reports"], "reports is a folder, not a results file"),
        (["compare", "page.html", "page.html"], "page.html is not a benchharness report (it embeds no results)"),
        (["merge", "pyproject.toml", "--out", "lab.html"], "pyproject.toml is not a benchharness results file (not JSON"),
    ],
)  # fmt: skip
def test_a_file_that_is_no_results_file_is_named_as_such_with_what_the_command_takes(tmp_path, args, what):
    root = digits_project(tmp_path, files={"package.json": '{"name": "x"}', "page.html": "<html></html>"})
    (root / "reports").mkdir()
    done = run_cli(root, *args)
    assert done.returncode == 2 and len(done.stderr.strip().splitlines()) == 1, done.stderr
    assert what in done.stderr and done.stderr.strip().endswith(INPUTS), done.stderr
    assert "re-record" not in done.stderr


# ---------------------------------------------------------------------------------------------
# Interrupts: a real run, a real signal, and nothing left behind.


def _workers(pid: int) -> list[psutil.Process]:
    try:
        return [
            p for p in psutil.Process(pid).children(recursive=True) if "benchharness.worker" in " ".join(p.cmdline())
        ]
    except psutil.NoSuchProcess:
        return []


def _start_and_wait_for_a_worker(
    root: Path, cache: Path, task: str
) -> tuple[subprocess.Popen[bytes], list[psutil.Process]]:
    env = child_env({"BENCHHARNESS_MACHINE": DIGITS_MACHINE, "BENCHHARNESS_CACHE": str(cache)})
    # Ctrl-C as a terminal delivers it: a suite started in the background (`nohup ... &`, some CI runners) inherits
    # SIGINT ignored, and Python then installs no KeyboardInterrupt handler, so the child would run to the end.
    proc = subprocess.Popen(
        child_pytest_command("--no-baseline"),
        cwd=root,
        env=env,
        stdout=subprocess.DEVNULL,
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        workers = [w for w in _workers(proc.pid) if task in w.cmdline()]
        if workers:
            return proc, workers
        time.sleep(0.05)
    proc.kill()
    pytest.fail(f"no {task} worker started within 120 s")


def _alive(processes: list[psutil.Process]) -> list[int]:
    time.sleep(1.0)  # the kernel delivers the parent-death signal asynchronously
    return [p.pid for p in processes if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]


def _leftovers(cache: Path) -> list[str]:
    found = [
        *cache.glob("jobs/*"),
        *cache.glob("sessions/*"),
        *cache.glob("*/*/*.partial-*"),
        *cache.glob("*/*/*/*.partial-*"),
    ]
    return sorted(str(p.relative_to(cache)) for p in found)


@pytest.mark.e2e
def test_ctrl_c_stops_the_child_and_removes_its_files(tmp_path):
    root = digits_project(tmp_path / "project")
    cache = tmp_path / "cache"
    proc, workers = _start_and_wait_for_a_worker(root, cache, "build")  # an empty cache: preparing first
    proc.send_signal(signal.SIGINT)
    assert proc.wait(timeout=60) == 2  # pytest's "interrupted"
    assert _alive(workers) == []
    assert _leftovers(cache) == []


@pytest.mark.e2e
def test_kill_9_orphans_nothing_and_the_next_run_sweeps_what_it_left(tmp_path):
    root = digits_project(tmp_path / "project")
    cache = tmp_path / "cache"
    proc, workers = _start_and_wait_for_a_worker(root, cache, "build")
    proc.send_signal(signal.SIGKILL)
    assert proc.wait(timeout=60) == -signal.SIGKILL
    assert _alive(workers) == [], "the worker outlived a kill -9 of pytest"
    left = _leftovers(cache)
    assert any(p.startswith("jobs/") for p in left), left  # what a killed run leaves, until the next run
    code, output = run_digits(root, "--collect-only", env={"BENCHHARNESS_CACHE": str(cache)})
    assert code == 0
    assert re.search(rf"swept {len(left)} leftover\(s\) of killed runs from the cache", output), output[-2000:]
    assert _leftovers(cache) == []


@pytest.mark.e2e
def test_a_truncated_variant_in_the_cache_is_rebuilt(tmp_path):
    root = digits_project(tmp_path / "project")
    cache = tmp_path / "cache"
    env = {"BENCHHARNESS_CACHE": str(cache)}
    assert run_digits(root, env=env)[0] == 0
    (graph,) = cache.glob("onnx/digits-mlp/int8-*/model.onnx")
    graph.write_bytes(graph.read_bytes()[:100])
    code, output = run_digits(root, env=env)
    assert code == 0, output[-2000:]
    assert "cache: rebuilt 1 variant(s) whose cached copy did not match its manifest (truncated or changed): " in output
    assert graph.stat().st_size > 100


def test_every_output_path_makes_its_missing_folder_and_says_so(tmp_path):
    """A newcomer's finding: `compare --html out/missing/x.html` made the folders silently. Every output path
    (--report, compare --html, merge and report --out, digest --json) makes a missing folder, and the line naming
    the file says so, so a mistyped folder is seen; digest --json refused instead, and now behaves the same."""
    from run_documents import case, run

    from benchharness.history.store import HistoryStore
    from benchharness.results import RunResult

    data = run([case("q4_0", 150.0)])
    (tmp_path / "r.json").write_text(json.dumps(data))
    store = HistoryStore(f"sqlite:///{tmp_path / 'h.sqlite'}")
    store.append(RunResult.from_dict(data, "r.json"))
    store.close()
    for args, written, line in (
        (["compare", "r.json", "r.json", "--html", "a/b/x.html"], "a/b/x.html", "compare report: a/b/x.html (made the folder a/b/)"),
        (["merge", "r.json", "--out", "c/lab.html"], "c/lab.html", "lab report: c/lab.html (1 machine(s): lab-a) (made the folder c/)"),
        (["report", "r.json", "--out", "d/r.html"], "d/r.html", "report: d/r.html (made the folder d/)"),
        (["history", "digest", "--history", "h.sqlite", "--json", "e/d.json"], "e/d.json", "--json e/d.json: (made the folder e/)"),
    ):  # fmt: skip
        done = run_cli(tmp_path, *args)
        assert done.returncode == 0, done.stderr
        assert (tmp_path / written).is_file()
        assert line in (done.stdout + done.stderr).splitlines(), done.stdout + done.stderr
    again = run_cli(tmp_path, "report", "r.json", "--out", "d/r.html")  # an existing folder: nothing to say
    assert again.stdout.strip() == "report: d/r.html"


@pytest.mark.e2e  # a real digits run on ONNX Runtime and OpenVINO (5 s)
def test_the_report_option_makes_its_missing_folder_and_says_so(tmp_path):
    root = digits_project(tmp_path)
    code, output = run_digits(root, "--report=out/new/report.html")
    assert code == 0, output[-3000:]
    assert one_line(output, r"^report: ") == "report: out/new/report.html (made the folder out/new/)"
    assert (root / "out" / "new" / "report.html").is_file()
