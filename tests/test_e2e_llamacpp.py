"""The real suite on the real model: SmolLM2-135M through llama.cpp, driven by pytest from outside.

A small workload keeps it to about a minute; variants come from the shared prepare cache.
Planted faults are real: a thread-count drop (a classic deployment regression) for the baseline
check, and a Q2_K variant declared in a config file (no Python) for the accuracy gate.
"""

import json
import os
from pathlib import Path

import pytest
from run_documents import skip_beside_other_work, skip_where_a_second_thread_buys_little

from conftest import latest, suite_file

# SmolLM2 through real llama.cpp in child pytest runs: the fast lane (-m 'not e2e and not slow') leaves it out.
pytestmark = pytest.mark.e2e

pytest.importorskip("llama_cpp", reason="pip install 'benchharness[llamacpp]'")

SUITE = suite_file("e2e", "test_generation")

PYPROJECT = """
[tool.benchharness]
threads = 2
[tool.benchharness.workload]
prompt_tokens = 32
gen_tokens = 32
warmup_rounds = 1
min_rounds = 6
min_time_s = 1.0
[tool.benchharness.accuracy]
n_ctx = 256
windows = 3
[tool.benchharness.baseline]
min_effect = 0.25
# The suite's between-run floor (issue 21): with no history yet, only a move past 1.25x is called. Halving
# threads on two cores moves TTFT 1.6-1.9x; a planted per-token delay doubles decode.
run_factor = 1.25
[tool.benchharness.suites.e2e]
models = ["smollm2-135m"]
backends = ["llamacpp"]
variants = QUANTS
[tool.benchharness.suites.e2e.gates]
speedup = false
memory_reduction = false
"""

DEGRADED_VARIANT = """
[models.smollm2-135m.variants]
q2_k = { quantize = "Q2_K" }
"""


@pytest.fixture
def run(pytester):
    pytester.makepyfile(test_e2e_suite=SUITE)
    pytester.path.joinpath("degraded.toml").write_text(DEGRADED_VARIANT)

    def run(quants, *args):
        pytester.path.joinpath("pyproject.toml").write_text(PYPROJECT.replace("QUANTS", json.dumps(quants)))
        return pytester.runpytest_subprocess(
            "--device=cpu", "-p", "no:cacheprovider", "-rA", "--bench-config=degraded.toml", *args, timeout=900
        )

    return run


def readings(pytester, case_id):
    data = latest(pytester.path)
    return next(c for c in data["cases"] if c["id"] == case_id)


@pytest.mark.skipif((os.cpu_count() or 1) < 2, reason="the planted slowdown halves the thread count")
def test_baseline_then_thread_drop_is_a_confirmed_regression(run, pytester):
    # Only the thread drop is checked here: on a shared 2-core CI host a clean re-run of a 32-token prefill
    # drifted by 28-40% for minutes (CI, 2026-11-24), as much as the drop itself, so "a clean re-run is not a
    # regression" is proven on decode alone, with a planted delay, in the next test.
    # Whether halving the threads is a regression at all depends on the host: where the two vCPUs are one
    # core's hyperthreads, a second thread buys little (CI, 2026-12-01: the drop's first child crossed the
    # 1.25x floor, its re-run did not, exit 0). So the drop must be called only where it is large, measured
    # apart from the harness first; elsewhere the skip says what was measured.
    skip_where_a_second_thread_buys_little()
    first = run(["f32", "q4_0"], "--gate=accuracy_retained=0.8", "--save-baseline")
    first.assert_outcomes(passed=2)
    first.stdout.fnmatch_lines(["*baselines: saved 2 case(s)*"])
    q4 = readings(pytester, "smollm2-135m-q4_0-llamacpp-cpu")
    assert q4["readings"]["decode_tok_per_s"]["value"] > 30
    assert 0.3 < q4["readings"]["top1_accuracy"]["value"] < 0.8
    assert 0.8 < q4["ratios"]["accuracy_retained"] < 1.05
    assert 0.01 < q4["readings"]["mean_kl_vs_reference"]["value"] < 1.0

    slow = run(["f32", "q4_0"], "--gate=accuracy_retained=0.8", "--bench-set=threads=1")
    # Halving threads slows both variants (TTFT +60-90% measured here); the regression is called only
    # with Mann-Whitney significance and confirmed in a fresh child. Where Q4_0 moved no more than its
    # F32 reference, Q4_0 says "machine moved" and the reference's own case carries the regression.
    skip_beside_other_work(pytester.path / "reports" / "latest.json")
    assert slow.ret == 1
    slow.stdout.fnmatch_lines(["*regressed: *(min effect 25%, Mann-Whitney U one-sided p=*"])
    slow.stdout.fnmatch_lines(["*[[]confirmed by re-run: *regressed*"])


PLANTED = (Path(__file__).resolve().parents[1] / "benchmarks" / "planted_backend.py").read_text()


def test_planted_per_token_delay_through_real_llamacpp(pytester, monkeypatch):
    """A 2x decode slowdown is a confirmed regression; a 3% one is not called a regression."""
    pytester.makepyfile(test_e2e_suite=SUITE, plantedbackend=PLANTED)
    pytester.makeconftest("import plantedbackend  # registers llamacpp-planted\n")
    text = PYPROJECT.replace("QUANTS", '["f32", "q4_0"]').replace(
        'backends = ["llamacpp"]', 'backends = ["llamacpp-planted"]'
    )
    # Decode only, where the delay is planted: prefill and TTFT of a 32-token prompt drift by a third on a
    # shared CI host. 25% is CI-robust; the 5% default is proven in benchmarks/ (planted_change.py).
    text = text.replace("min_effect = 0.25", 'min_effect = 0.25\nmetrics = ["decode_tok_per_s"]')
    pytester.path.joinpath("pyproject.toml").write_text(text)
    args = ("--device=cpu", "-p", "no:cacheprovider", "-rA", "--variant=q4_0", "--gate=accuracy_retained=0.8")

    monkeypatch.setenv("PLANTED_DELAY_S", "0")
    monkeypatch.setenv("PLANTED_ONLY", "q4_0")  # the F32 reference stays as it was
    pytester.runpytest_subprocess(*args, "--save-baseline", timeout=900).assert_outcomes(passed=1)
    per_token_s = (
        1.0 / readings(pytester, "smollm2-135m-q4_0-llamacpp-planted-cpu")["readings"]["decode_tok_per_s"]["value"]
    )

    monkeypatch.setenv("PLANTED_DELAY_S", repr(per_token_s))  # every decode step takes twice as long
    doubled = pytester.runpytest_subprocess(*args, timeout=900)
    skip_beside_other_work(pytester.path / "reports" / "latest.json")
    doubled.assert_outcomes(failed=1)
    doubled.stdout.fnmatch_lines(
        ["*decode_tok_per_s regressed: -*Mann-Whitney*[[]confirmed by re-run: decode_tok_per_s regressed*"]
    )

    monkeypatch.setenv("PLANTED_DELAY_S", repr(0.03 * per_token_s))
    slight = pytester.runpytest_subprocess(*args, timeout=900)
    slight.assert_outcomes(passed=1)
    verdicts = readings(pytester, "smollm2-135m-q4_0-llamacpp-planted-cpu")["verdicts"]
    assert not [v for v in verdicts if v["check"] == "baseline" and v["status"] == "fail"]
    assert {v["name"] for v in verdicts if v["check"] == "baseline"} == {"decode_tok_per_s"}


def test_degraded_variant_fails_the_accuracy_gate(run, pytester):
    # 12 windows (1524 scored tokens): enough for the interval to lie wholly below 95%.
    result = run(["f32", "q2_k"], "--no-baseline", "--variant=q2_k", "--bench-set=accuracy.windows=12")
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(
        [
            "*test_generation[[]smollm2-135m-q2_k-llamacpp-cpu[]]*",
            "accuracy retained *% [[]*%, *%] (min 95.0%, * items): fail; top-1 *% vs reference f32 *%*",
        ]
    )
    # llama.cpp cannot store 576-wide rows as Q2_K: the label is called out, with what was made instead.
    result.stdout.fnmatch_lines(["warning: *q2_k*: weights: requested Q2_K covers only *% of the parameters*"])
    weights = readings(pytester, "smollm2-135m-q2_k-llamacpp-cpu")["info"]["weights"]
    assert weights["requested"] == "Q2_K" and weights["requested_share"] < 0.5
    assert abs(sum(weights["types"].values()) - 1) < 1e-3 and weights["bits_per_weight"] > 3
