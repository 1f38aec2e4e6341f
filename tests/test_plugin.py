"""The plugin from the outside (pytester, in a subprocess), on a planted fake backend.

The fake backend (the toy project in tests/conftest.py) exists only to exercise the harness's own logic: crashes, hangs, memory hogs
and bad input. Real figures come from the llama.cpp end-to-end tests.
"""

import json

import pytest

from conftest import NO_SPEED_OR_MEMORY, TOY_SUITE, latest, toy_pyproject


@pytest.mark.slow
def test_clean_run_passes_and_writes_results(toy_project, pytester):
    result = toy_project(["ref", "ok"])
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(
        ["*benchharness*", "toy (causal-lm)", "variant *decode tok/s*", "ok fake cpu * none *passed", "results: *"]
    )
    outcomes = {c["id"]: c["outcome"] for c in latest(pytester.path)["cases"]}
    assert outcomes == {"toy-ref-fake-cpu": "passed", "toy-ok-fake-cpu": "passed"}
    energy = latest(pytester.path)["cases"][0]["readings"]["energy_j"]
    assert energy["value"] is None and energy["unavailable_reason"]
    # The timed tokens are the scored ones: the ref's 4 generated tokens + the prefill's, all matched.
    tokens = latest(pytester.path)["cases"][0]["info"]["timed_tokens"]
    assert (tokens["generated"], tokens["matched_by_scoring_path"], tokens["stopped"]) == (5, 5, None)


@pytest.mark.slow
def test_crash_fails_only_that_case(toy_project, pytester):
    result = toy_project(["ref", "abort", "ok"])
    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines(["*toy-abort-fake-cpu*child process died from SIGABRT*"])
    assert {c["id"]: c["outcome"] for c in latest(pytester.path)["cases"]}["toy-abort-fake-cpu"] == "failed"


@pytest.mark.slow
def test_hang_is_killed_at_the_timeout(toy_project):
    result = toy_project(["ref", "hang", "ok"], timeout=4)
    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines(["*toy-hang-fake-cpu: timed out after 4 s*"])


@pytest.mark.slow
def test_memory_hog_fails_its_case(toy_project):
    result = toy_project(["ref", "hog"])
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*toy-hog-fake-cpu*MemoryError*"])


@pytest.mark.slow
def test_non_finite_figures_fail_the_case_not_the_session(toy_project):
    result = toy_project(["ref", "nan", "ok"])
    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines(["*toy-nan-fake-cpu*non-finite logits in accuracy window 0*"])


@pytest.mark.slow
def test_unwritable_reports_folder_is_reported_and_the_run_still_judged(toy_project, pytester):
    result = toy_project(["ref", "ok"], '--bench-set=results_dir="pyproject.toml/reports"')
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(["*results NOT written: cannot write *pyproject.toml/reports*make * writable*"])


@pytest.mark.slow
def test_bad_model_files(toy_project):
    result = toy_project(["ref", "corrupt"])
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*corrupt.gguf is not a GGUF file*"])
    result = toy_project(["ref", "missing"])  # a declared file that is not there: refused before anything runs
    assert result.ret == 4
    result.stderr.fnmatch_lines(["ERROR: benchharness: models.toy.variants.missing: *missing.gguf does not exist*"])


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--device=tpu"], "*unknown device 'tpu'; valid: auto, cpu, cuda, metal, gpu, npu*"),
        (["--variant=q9"], "*--variant: unknown value 'q9'; valid:*ref*"),
        (["--backend=onnx"], "*--backend: unknown value 'onnx'; valid:*fake*llamacpp*"),
        (["--model=gpt"], "*--model: unknown value 'gpt'; valid:*toy*"),
        (["--gate=speed=2"], "*--gate 'speed=2': expected NAME=MIN*"),
        (["--bench-set=workload.gen_token=2"], "*unknown key 'gen_token'; valid keys:*gen_tokens*"),
    ],
)
def test_bad_command_line_is_a_usage_error(toy_project, args, message):
    result = toy_project(["ref"], *args)
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines([message])
    assert "Traceback" not in result.stderr.str()


def test_a_variant_of_another_model_skips_the_suite_listing_its_own_variants(toy_project):
    """q4_0 is a built-in model's variant, not the toy's: the one skipped entry names what the toy suite runs."""
    result = toy_project(["ref", "ok"], "--variant=q4_0", "-rs")
    result.assert_outcomes(skipped=1)
    result.stdout.fnmatch_lines(
        ["*--variant=q4_0 selects none of suite toy's cases; it runs variants ref, ok: name those to run them*"]
    )


@pytest.mark.slow
def test_failing_run_never_touches_baselines(toy_project, pytester):
    toy_project(["ref", "ok"], "--save-baseline").assert_outcomes(passed=2)
    (stored,) = (pytester.path / "baselines").glob("*.json")
    before = stored.read_bytes()
    result = toy_project(["ref", "abort"], "--save-baseline")
    result.stdout.fnmatch_lines(["*baselines NOT saved: 1 case(s) failed*"])
    assert stored.read_bytes() == before


@pytest.mark.slow
def test_malformed_baseline_fails_with_fix_and_is_kept(toy_project, pytester):
    toy_project(["ref"], "--save-baseline").assert_outcomes(passed=1)
    (stored,) = (pytester.path / "baselines").glob("*.json")
    stored.write_text("{broken")
    result = toy_project(["ref"])
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*is not valid JSON*restore it from version control*"])
    result = toy_project(["ref"], "--save-baseline")
    result.stdout.fnmatch_lines(["*baselines NOT saved:*not valid JSON*"])
    assert stored.read_text() == "{broken"


@pytest.mark.slow
def test_reference_is_measured_even_when_filtered_out(toy_project, pytester):
    result = toy_project(["ref", "ok"], "--variant=ok")
    result.assert_outcomes(passed=1)
    outcomes = {c["id"]: c["outcome"] for c in latest(pytester.path)["cases"]}
    assert outcomes == {"toy-ok-fake-cpu": "passed", "toy-ref-fake-cpu": "measured as reference"}


@pytest.mark.slow
def test_a_reference_deselected_by_k_is_stored_with_its_readings_and_why(toy_project, pytester):
    result = toy_project(["ref", "ok", "fast"], "-k", "ok")
    result.assert_outcomes(passed=1)
    cases = {c["id"]: c for c in latest(pytester.path)["cases"]}
    ref = cases["toy-ref-fake-cpu"]
    assert ref["outcome"] == "measured as reference" and ref["message"] == "measured as the reference of ok"
    assert ref["readings"]["decode_tok_per_s"]["value"] > 0  # compare, history and the report see it
    assert cases["toy-fast-fake-cpu"]["outcome"] == "deselected"
    assert cases["toy-fast-fake-cpu"]["message"] == "deselected (-k, -m or node ids)"


@pytest.mark.slow
def test_a_variant_with_another_vocabulary_keeps_its_speed_and_says_why_accuracy_is_unavailable(toy_project, pytester):
    result = toy_project(["ref", "widevocab"], policy=ACCURACY_ONLY)
    result.assert_outcomes(passed=1, failed=1)  # a declared gate that cannot be judged is not a pass
    result.stdout.fnmatch_lines(["*not judged:*vocabulary has 300 tokens and its reference's 256*"])
    assert "could not be broadcast" not in result.stdout.str()
    wide = case(pytester, "toy-widevocab-fake-cpu")
    assert wide["readings"]["decode_tok_per_s"]["value"] > 0  # the speed figures stand
    top1 = wide["readings"]["top1_accuracy"]
    assert top1["value"] is None and "300 tokens and its reference's 256" in top1["unavailable_reason"]


@pytest.mark.slow
def test_pytest_benchmark_json_is_readable_by_pytest_benchmark(toy_project, pytester):
    toy_project(["ref", "ok"]).assert_outcomes(passed=2)
    (path,) = (pytester.path / "reports").glob("*.pytest-benchmark.json")
    data = json.loads(path.read_text())
    assert {b["name"] for b in data["benchmarks"]} == {
        "test_generation[toy-ref-fake-cpu]",
        "test_generation[toy-ok-fake-cpu]",
    }
    assert all(b["stats"]["ops"] > 0 for b in data["benchmarks"])


@pytest.mark.slow
def test_results_load_into_pandas(toy_project, pytester):
    from benchharness.results import load_dataframe

    toy_project(["ref", "ok"]).assert_outcomes(passed=2)
    frame = load_dataframe(pytester.path / "reports" / "latest.json")
    assert {"id", "metric", "value", "stdev", "unit", "unavailable_reason"} <= set(frame.columns)
    decode = frame[(frame.metric == "decode_tok_per_s") & (frame.id == "toy-ok-fake-cpu")]
    assert len(decode) == 1 and decode.value.iloc[0] > 0


SPEED_ONLY = """
[tool.benchharness.trials]
pairs = 4
max_pairs = 8
[tool.benchharness.suites.toy.gates]
accuracy_retained = false
memory_reduction = false
[tool.benchharness.suites.toy.gates.speedup]
min = 2.0
"""


def case(pytester, case_id):
    return next(c for c in latest(pytester.path)["cases"] if c["id"] == case_id)


@pytest.mark.slow
def test_speed_gate_pass_and_a_failure_confirmed_by_a_fresh_child(toy_project, pytester):
    result = toy_project(["ref", "fast", "slow"], policy=SPEED_ONLY)
    result.assert_outcomes(passed=2, failed=1)
    # slow sleeps as long as ref (~1.0x); a busy shared machine moves the estimate, never past 2x.
    result.stdout.fnmatch_lines(["*toy-slow-fake-cpu*speedup 1.*x [[]*]* (min 2.00x, * pairs): fail*"])
    result.stdout.fnmatch_lines(["*FAIL*toy-slow-fake-cpu: speedup*[[]confirmed by re-run: speedup*"])
    fast, slow = case(pytester, "toy-fast-fake-cpu"), case(pytester, "toy-slow-fake-cpu")
    speed = next(v for v in fast["verdicts"] if v["name"] == "speedup")
    assert speed["status"] == "pass" and speed["low"] >= 2.0 and speed["n"] >= 4
    assert {p["order"][0] for p in fast["pairs"]} <= {"VR", "RV"}
    assert len(slow["confirm_pairs"]) == 1 and slow["verdicts"][0]["confirmation"].startswith("confirmed")


ACCURACY_ONLY = NO_SPEED_OR_MEMORY + "[tool.benchharness.suites.toy.gates.accuracy_retained]\nmin = 0.95\n"


@pytest.mark.slow
def test_inconclusive_warns_by_default_and_fails_when_the_suite_says_so(toy_project, pytester):
    result = toy_project(["ref", "near"], policy=ACCURACY_ONLY)
    result.assert_outcomes(passed=2)
    result.stdout.fnmatch_lines(
        ["near fake cpu*inconclusive*", "*accuracy retained 9*% [[]*] (min 95.0%, * items): inconclusive*"]
    )
    result.stdout.fnmatch_lines(["1 inconclusive verdict(s)*toy-near-fake-cpu"])


@pytest.mark.slow
def test_inconclusive_policy_fail(toy_project, pytester):
    pyproject_text = toy_pyproject(["ref", "near"], policy=ACCURACY_ONLY).replace(
        'variants = ["ref", "near"]', 'variants = ["ref", "near"]\ninconclusive = "fail"'
    )
    pytester.path.joinpath("pyproject.toml").write_text(pyproject_text)
    result = pytester.runpytest_subprocess("--device=cpu", "-p", "no:cacheprovider", "-rA")
    result.assert_outcomes(passed=1, failed=1)


KNOWN = (
    NO_SPEED_OR_MEMORY
    + '[tool.benchharness.suites.toy.gates.accuracy_retained]\nmin = 0.95\nknown_breaches = ["bad", "ok"]\n'
)


@pytest.mark.slow
def test_known_breach_xfails_and_a_stale_one_is_an_unexpected_pass(toy_project, pytester):
    result = toy_project(["ref", "bad", "ok"], policy=KNOWN)
    result.assert_outcomes(passed=1, xfailed=1, xpassed=1)
    assert result.ret == 0
    result.stdout.fnmatch_lines(
        ["*policy to update: toy: accuracy_retained is declared a known breach for ok but passed*"]
    )
    assert case(pytester, "toy-ok-fake-cpu")["outcome"] == "xpassed"
    assert case(pytester, "toy-bad-fake-cpu")["outcome"] == "xfailed"
    # Half its scored positions are wrong, yet it scores its own generation as it generated it.
    assert case(pytester, "toy-bad-fake-cpu")["info"]["timed_tokens"]["matched_by_scoring_path"] == 5


@pytest.mark.slow
def test_strict_policy_fails_on_a_stale_known_breach(toy_project, pytester):
    text = toy_pyproject(["ref", "ok"], policy=KNOWN).replace(
        'variants = ["ref", "ok"]', 'variants = ["ref", "ok"]\nstrict_policy = true'
    )
    pytester.path.joinpath("pyproject.toml").write_text(text)
    result = pytester.runpytest_subprocess("--device=cpu", "-p", "no:cacheprovider", "-rA")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(["*XPASS(strict)*"])


@pytest.mark.slow
def test_a_crash_is_a_failure_even_where_a_breach_is_declared(toy_project, pytester):
    policy = KNOWN.replace('["bad", "ok"]', '["abort"]')
    toy_project(["ref", "abort"], policy=policy).assert_outcomes(passed=1, failed=1)


@pytest.mark.slow
def test_two_suites_sharing_a_case_id_keep_their_own_figures(pytester, toy_project):
    other = TOY_SUITE.replace('"toy"', '"toy2"')
    pytester.makepyfile(test_toy2=other)
    text = (
        toy_pyproject(["ref", "ok"])
        + """
[tool.benchharness.suites.toy2]
models = ["toy"]
backends = ["fake"]
variants = ["ref", "ok"]
[tool.benchharness.suites.toy2.workload]
prompt_tokens = 8
gen_tokens = 2
warmup_rounds = 0
min_rounds = 2
min_time_s = 0.0
[tool.benchharness.suites.toy2.gates]
speedup = false
memory_reduction = false
"""
    )
    pytester.path.joinpath("pyproject.toml").write_text(text)
    pytester.runpytest_subprocess("--device=cpu", "-p", "no:cacheprovider").assert_outcomes(passed=4)
    cases = {c["key"]: c for c in latest(pytester.path)["cases"]}
    assert cases["toy::toy-ok-fake-cpu"]["info"]["gen_tokens"] == 4
    assert cases["toy2::toy-ok-fake-cpu"]["info"]["gen_tokens"] == 2


def test_a_gate_that_cannot_be_judged_fails_with_its_reason():
    from benchharness.judge import Verdict
    from benchharness.plugin import CaseChecker
    from benchharness.records import CaseRecord

    class Session:
        def run(self, case):
            return CaseRecord(
                case, verdicts=[Verdict("gate", "speedup", "unavailable", "speedup: decode_tok_per_s unavailable (x)")]
            )

        def suite(self, name):
            from benchharness.settings import SuiteConfig

            return SuiteConfig(name)

    with pytest.raises(pytest.fail.Exception, match=r"not judged: speedup: decode_tok_per_s unavailable \(x\)"):
        from benchharness.matrix import Case

        CaseChecker(Session()).check(Case("toy", "toy", "ok", "fake", "cpu", "ref"))


@pytest.mark.slow
def test_a_variant_timed_on_one_path_and_scored_on_another_fails_with_the_first_differing_position(
    toy_project, pytester
):
    # Its generation steps by 2 while its scoring path predicts the next byte: the row would time one model and
    # score another (tasks/timed_tokens.py), so the case fails, named, before any accuracy figure is made of it.
    result = toy_project(["ref", "twopaths"])
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines(
        ["*toy-twopaths-fake-cpu*the timed rounds generated token * at position 0 where the scoring path's greedy*"]
    )


def test_a_config_with_the_old_name_quants_runs_and_says_the_new_one(toy_project, pytester):
    """`quants` (the name before 2026-12) still selects the variants, under warnings-as-errors too, and the run's
    header names the new key once per place it was used."""
    pytester.path.joinpath("pyproject.toml").write_text(
        toy_pyproject(["ref", "ok"]).replace("variants = [", "quants = [")
    )
    args = ("--device=cpu", "-p", "no:cacheprovider", "-W", "error", "--collect-only")
    result = pytester.runpytest_subprocess(*args)
    assert result.ret == 0, result.stdout.str()[-2000:]
    out = result.stdout.str()
    assert out.count("benchharness: pyproject.toml [tool.benchharness].suites.toy.quants is now called variants") == 1
    assert "toy-ref-fake-cpu" in out and "toy-ok-fake-cpu" in out
    # --quant, the option's old name, filters as --variant does, and the header says the new name as for the key
    for option in ("--quant=ok", "--variant=ok"):
        out = pytester.runpytest_subprocess(*args, option).stdout.str()
        assert "toy-ok-fake-cpu" in out and "toy-ref-fake-cpu" not in out, out[-2000:]
        renamed = "benchharness: --quant is now called --variant; rename the option"
        assert out.count(renamed) == (1 if option.startswith("--quant") else 0), out[-2000:]


def test_an_option_given_twice_keeps_the_last_as_pytest_does_and_the_header_says_so(toy_project, pytester):
    """addopts then the command line: `--device=cpu` in a project's addopts is overridden on the command line,
    as every pytest option is; the header names what counted so nothing is dropped unseen."""
    pytester.path.joinpath("pyproject.toml").write_text(
        toy_pyproject(["ref", "ok"]) + '\n[tool.pytest.ini_options]\naddopts = "--variant=ref"\n'
    )
    result = pytester.runpytest_subprocess("--device=cpu", "-p", "no:cacheprovider", "--collect-only", "--variant=ok")
    assert result.ret == 0, result.stdout.str()[-2000:]
    out = result.stdout.str()
    assert "toy-ok-fake-cpu" in out and "toy-ref-fake-cpu" not in out, out[-2000:]
    assert "benchharness: --variant given 2 times (--variant=ref and --variant=ok): the last, ok, counts" in out
