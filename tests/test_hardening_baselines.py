"""Baselines that mean what they say, tried from outside as a lab user meets them (issue 20, part 6).

A baseline saved while other work held the machine says so, naming the figure; a baseline recorded with
other round counts is still compared (only settings that define the figure discard it); KL figures are
compared by effect size instead of printing 'unavailable, re-record' on every run. Same pattern and helpers
as tests/test_hardening.py: the digits suite on ONNX Runtime, real measurements in seconds.
"""

from __future__ import annotations

import json
import re
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psutil
import pytest
from run_documents import skip_beside_other_work

from benchharness.machine import default_threads
from conftest import DIGITS_MACHINE, cases_by, digits_project, latest, one_line, run_digits

# Every test measures the digits project on ONNX Runtime in child pytest runs: the fast lane leaves it out.
pytestmark = pytest.mark.e2e

pytest.importorskip("onnxruntime", reason="pip install 'benchharness[onnx]'")
pytest.importorskip("sklearn", reason="pip install 'benchharness[exporters]'")

LOOP = "import time\nt = time.time() + {seconds}\nwhile time.time() < t: pass"


@contextmanager
def outside_load(seconds: float = 300.0) -> Iterator[None]:
    """One busy loop per core, none of them the run's: bounded in time, and killed when the block ends."""
    loops = [
        subprocess.Popen([sys.executable, "-c", LOOP.format(seconds=seconds)]) for _ in range(psutil.cpu_count() or 1)
    ]
    try:
        time.sleep(0.5)
        yield
    finally:
        for loop in loops:
            loop.kill()
        for loop in loops:
            loop.wait()


def stored(root: Path) -> dict[str, dict]:
    return json.loads((root / "baselines" / f"{DIGITS_MACHINE}.json").read_text())["cases"]


def test_a_baseline_saved_under_outside_load_is_saved_with_a_warning_naming_the_figure(tmp_path):
    root = digits_project(tmp_path)
    with outside_load():
        code, output = run_digits(root, "--save-baseline")
    assert code == 0, output[-2000:]
    # What the busy loops took from each case's timed region, as measured (tests/test_meters.py checks that a
    # process nobody started counts); a region of a few ms can fall between the kernel's 10 ms ticks.
    cases = cases_by(root, "key")
    loads = {key: c["readings"]["outside_cpu_load"] for key, c in cases.items()}
    over = [key for key, r in loads.items() if (r["value"] or 0.0) > 0.2]  # None: unavailable, with its reason
    if not over:
        pytest.skip(f"the busy loops did not register over 20% in any case's timed region: {loads}")
    line = one_line(output, "baselines: saved")
    assert f"WARNING: {len(over)} measured under outside CPU load they did not cause" in line, line
    assert "re-record on a quiet machine" in line
    # The terminal says it too, beside the table a newcomer reads: what the machine added, and what to do.
    assert one_line(output, "machine: noise before the run: steal ")
    loaded = one_line(output, "machine: other work during the cases' timed regions: median ")
    assert f"{len(over)} case(s) over max_outside_load" in loaded, loaded
    # fewer threads only where the run had more than one (the project leaves threads to one per physical core)
    assert ("--bench-set threads=1" in loaded) == (default_threads() > 1), loaded
    figures = [float(x) for x in re.findall(r"(\d+)% > 20%", line)]
    assert len(figures) == len(over) and all(f > 20 for f in figures), line
    for key, entry in stored(root).items():  # the figure travels with the baseline
        assert entry["recorded"]["outside_cpu_load"] == cases[key]["readings"]["outside_cpu_load"]["value"]
        assert entry["recorded"]["max_outside_load"] == 0.2

    # Every later comparison against it says what it was recorded under. Only the figure read below is
    # compared, under a floor no between-run move of this 10-20 us figure reaches (it moved 2.16x in CI):
    # what is tested is the note, not the verdict.
    code, output = run_digits(root, '--bench-set=baseline={metrics=["batch1_latency_ms"], run_factor=100.0}')
    assert code == 0, output[-2000:]
    timing = {
        key: v
        for key, c in cases_by(root, "key").items()
        for v in c["verdicts"]
        if v["check"] == "baseline" and v["name"] == "batch1_latency_ms"
    }
    assert len(timing) == 2, output[-2000:]
    noted = [key for key, v in timing.items() if "the baseline was recorded under" in v["message"]]
    assert sorted(noted) == sorted(over), {key: v["message"] for key, v in timing.items()}
    assert all("outside CPU load" in timing[key]["message"] for key in over)


def test_the_outside_load_limit_is_a_setting(tmp_path):
    root = digits_project(tmp_path, "[tool.benchharness.suites.d.baseline]\nmax_outside_load = 1.0")
    with outside_load():
        code, output = run_digits(root, "--save-baseline")
    assert code == 0, output[-2000:]
    assert "WARNING" not in one_line(output, "baselines: saved 2 case")
    code, output = run_digits(root, "--save-baseline", "--bench-set=baseline.max_outside_load=1.5")
    assert code == 4 and "baseline.max_outside_load = 1.5 is out of range" in output


def test_more_rounds_still_compare_and_a_setting_that_defines_the_figure_does_not(tmp_path):
    root = digits_project(tmp_path)
    code, output = run_digits(root, "--save-baseline")
    assert code == 0, output[-2000:]
    # Compared, not judged: a floor no between-run move of these 10-20 us timings reaches keeps the verdicts
    # out of the way of what is tested, that other round counts still compare.
    code, output = run_digits(
        root,
        "--bench-set=workload.min_rounds=9",
        "--bench-set=workload.min_time_s=0.4",
        "--bench-set=baseline.run_factor=100.0",
    )
    assert code == 0, output[-2000:]
    assert "baseline: compared 2 case(s)" in output, output[-2000:]
    assert "different workload settings" not in output
    code, output = run_digits(root, "--bench-set=workload.warmup_rounds=0")
    line = one_line(output, "baseline not compared")
    assert "for 2 case(s)" in line and "different workload settings (warmup_rounds)" in line


def test_deterministic_figures_compare_by_effect_size_without_advising_a_re_record(tmp_path):
    root = digits_project(tmp_path)
    code, output = run_digits(root, "--save-baseline")
    assert code == 0, output[-2000:]
    # Only the deterministic figures are compared: timings of a 20 us model move between runs on a busy
    # machine (issue 21's between-run noise), which is not what this test is about.
    deterministic = '--bench-set=baseline.metrics=["heldout_accuracy", "same_prediction_vs_reference"]'
    code, output = run_digits(root, deterministic)
    assert code == 0, output[-2000:]
    verdicts = [v for c in cases_by(root).values() for v in c["verdicts"] if v["check"] == "baseline"]
    accuracy = [v for v in verdicts if v["name"] in ("heldout_accuracy", "same_prediction_vs_reference")]
    assert len(accuracy) == 3 and all(v["status"] == "pass" for v in accuracy), accuracy
    assert all("deterministic: effect size only, tolerance 5%" in v["message"] for v in accuracy)
    assert not [v for v in verdicts if "no round samples" in v["message"]]


LLM = """
[tool.benchharness]
threads = 2
[tool.benchharness.workload]
prompt_tokens = 16
gen_tokens = 8
min_rounds = 3
min_time_s = 0.0
[tool.benchharness.accuracy]
n_ctx = 64
windows = 2
[tool.benchharness.suites.d]
models = ["smollm2-135m"]
backends = ["llamacpp"]
variants = ["f32", "q4_0"]
[tool.benchharness.suites.d.gates]
speedup = false
memory_reduction = false
accuracy_retained = false
"""


def test_kl_figures_are_baseline_checked_by_effect_size(tmp_path):
    """The four figures with a spread over tokens used to print N/A and 'Re-record' on every run."""
    pytest.importorskip("llama_cpp", reason="pip install 'benchharness[llamacpp]'")
    root = digits_project(tmp_path)
    (root / "pyproject.toml").write_text(LLM)
    code, output = run_digits(root, "--save-baseline")
    assert code == 0, output[-2000:]
    code, output = run_digits(root)
    assert code == 0, output[-2000:]
    case = cases_by(root)["smollm2-135m-q4_0-llamacpp-cpu"]
    verdicts = {v["name"]: v for v in case["verdicts"] if v["check"] == "baseline"}
    kl = [
        "delta_p_rms_vs_reference",
        "kl_p99_vs_reference",
        "ln_ppl_ratio_vs_reference",
        "mean_kl_vs_reference",
        "same_top1_vs_reference",
    ]
    assert all(verdicts[name]["status"] == "pass" for name in kl), {n: verdicts[n]["message"] for n in kl}
    assert all("deterministic: effect size only" in verdicts[name]["message"] for name in kl)
    assert "Re-record" not in output


def _scaled(values: list[float], factor: float) -> list[float]:
    return [x * factor for x in values]


def test_the_baseline_check_learns_the_between_run_spread_from_the_machines_history(tmp_path):
    """Issue 21: rounds of one child call a -50% move; only the machine's other runs can say it is a change.

    The move is planted large (2x) and the suite's floor set as the real digits suite sets it (3x), so the
    test does not depend on how much this tiny model's timings drift between runs of a shared machine.
    """
    from benchharness.history.store import HistoryStore
    from benchharness.results import RunResult

    root = digits_project(tmp_path)
    code, output = run_digits(root, "--save-baseline")
    assert code == 0, output[-2000:]
    # A baseline recorded beside other work is not judged for speed (baseline.max_outside_load): nothing to check.
    first = tmp_path / "baseline-run.json"
    first.write_text((root / "reports" / "latest.json").read_text())
    skip_beside_other_work(first)
    # The past as if this machine had been 2x faster: the baseline, and three runs of it in the history.
    path = root / "baselines" / f"{DIGITS_MACHINE}.json"
    data = json.loads(path.read_text())
    for entry in data["cases"].values():
        metric = entry["metrics"]["batch32_items_per_s"]
        metric["value"], metric["samples"] = metric["value"] * 2.0, _scaled(metric["samples"], 2.0)
    path.write_text(json.dumps(data))
    results = latest(root)
    store = HistoryStore(f"sqlite:///{root / 'past.sqlite'}")
    for i, factor in enumerate((1.98, 2.0, 2.02)):
        past = json.loads(json.dumps(results))
        past["run"]["started"] = f"2026-11-0{i + 1}T02:00:00+00:00"
        for case in past["cases"]:
            reading = case["readings"]["batch32_items_per_s"]
            reading["value"] *= factor
        assert store.append(RunResult.from_dict(past, f"past{i}.json"))
    store.close()

    # Only the figure planted is compared (the others drift freely), with the digits suite's own floor.
    only = '--bench-set=baseline={metrics=["batch32_items_per_s"], run_factor=3.0}'
    code, output = run_digits(root, "--history=off", only)
    assert code == 0, output[-2000:]  # 2x is under run_factor 3x: not decided without other runs
    verdicts = [v for case in cases_by(root).values() for v in case["verdicts"] if v["name"] == "batch32_items_per_s"]
    assert verdicts and all(v["status"] != "fail" for v in verdicts)
    undecided = [v for v in verdicts if v["direction"] == "unknown"]
    assert undecided and "between-run spread unknown: 1 old-side run(s)" in undecided[0]["message"]

    code, output = run_digits(root, f"--history={root / 'past.sqlite'}", only)
    skip_beside_other_work(root / "reports" / "latest.json")
    said = [
        v["message"] for case in cases_by(root).values() for v in case["verdicts"] if v["name"] == "batch32_items_per_s"
    ]
    assert code == 1, f"{said}\n{output[-2000:]}"
    line = one_line(output, "batch32_items_per_s regressed")
    assert "between runs: t-test over 4 old-side and 1 new-side run(s)" in line, line


def test_a_speedup_gate_whose_ratio_swings_between_runs_reads_inconclusive(tmp_path):
    """Issue 21: a gate decided by one run's pairs, held against the machine's spread of the ratio between runs.

    The speedup gate is set far under the digits MLP's INT8/FP32 ratio so this run decides it as a pass; a
    history where the ratio swung across that line in earlier runs turns it inconclusive, naming the runs,
    and a steady history leaves it a pass.
    """
    from benchharness.history.store import HistoryStore
    from benchharness.results import RunResult

    root = digits_project(tmp_path)
    text = (root / "pyproject.toml").read_text().replace("speedup = false\n", "")
    (root / "pyproject.toml").write_text(text + "[tool.benchharness.suites.d.gates.speedup]\nmin = 0.01\n")
    code, output = run_digits(root, "--history=off")
    assert code == 0, output[-2000:]
    results = json.loads((root / "reports" / "latest.json").read_text())
    gate = next(v for c in results["cases"] for v in c["verdicts"] if v["name"] == "speedup")
    assert gate["status"] == "pass", gate

    def history(name: str, ratios: tuple[float, ...]) -> Path:
        store = HistoryStore(f"sqlite:///{root / name}")
        for i, ratio in enumerate(ratios):
            past = json.loads(json.dumps(results))
            past["run"]["started"] = f"2026-11-0{i + 1}T02:00:00+00:00"
            for verdict in (v for c in past["cases"] for v in c["verdicts"] if v["name"] == "speedup"):
                verdict["estimate"] = ratio
            assert store.append(RunResult.from_dict(past, f"past{i}.json"))
        store.close()
        return root / name

    code, output = run_digits(root, f"--history={history('swinging.sqlite', (0.005, 0.5, 0.05))}")
    assert code == 0, output[-2000:]  # inconclusive warns by default
    gate = next(v for c in cases_by(root).values() for v in c["verdicts"] if v["name"] == "speedup")
    assert gate["status"] == "inconclusive", gate
    assert (
        "across runs: inconclusive: this machine's last 3 runs read this ratio 0.005-0.5, 1 of them" in gate["message"]
    )

    code, output = run_digits(root, f"--history={history('steady.sqlite', (0.5, 5.0, 2.0))}")  # all over 0.01
    assert code == 0, output[-2000:]
    gate = next(v for c in cases_by(root).values() for v in c["verdicts"] if v["name"] == "speedup")
    assert gate["status"] == "pass" and "across runs" not in gate["message"], gate
