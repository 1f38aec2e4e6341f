"""`compare` on typed runs: the baseline check's own rule decides, with intervals on top."""

import json
import re

import pytest
from run_documents import case, run

from benchharness import judge
from benchharness.compare import compare_runs
from benchharness.history.store import HistoryStore
from benchharness.report.compare_view import render_compare, terminal_summary
from benchharness.results import RunResult
from benchharness.settings import BaselineSettings
from conftest import run_cli

SPEEDUP_PASS = {"speedup": ("pass", 2.6, 2.5, 2.7)}


def runs(old_cases, new_cases, old_machine="lab-a", new_machine="lab-a"):
    old = RunResult.from_dict(run(old_cases, old_machine), "old.json")
    new = RunResult.from_dict(run(new_cases, new_machine, started="2026-11-25T10:00:00+00:00"), "new.json")
    return [old], [new]


def change(comparison, metric):
    return next(m for m in comparison.metrics if m.metric == metric)


def history_of(tmp_path, decodes, gates=None):
    """A real SQLite history store holding earlier runs of the q4_0 case on lab-a."""
    store = HistoryStore(f"sqlite:///{tmp_path / 'history.sqlite'}")
    for i, decode in enumerate(decodes):
        store.append(
            RunResult.from_dict(
                run([case("q4_0", decode, gates=gates, seed=10 + i)], "lab-a", started=f"2026-11-2{i}T01:00:00+00:00"),
                "h.json",
            )
        )
    return store


def test_a_real_slowdown_is_a_regression_with_an_interval_that_excludes_zero(tmp_path):
    history = history_of(tmp_path, [149.0, 151.0, 150.5])
    comparison = compare_runs(*runs([case("q4_0", 150.0)], [case("q4_0", 120.0, seed=1)]), history)
    decode = change(comparison, "decode_tok_per_s")
    assert decode.status == "regressed" and "t-test over 4 old-side" in decode.message
    assert decode.change is not None and -0.22 < decode.change < -0.18
    assert decode.low is not None and decode.high is not None and decode.low <= decode.change <= decode.high < 0
    assert "Mann-Whitney" in decode.message  # the baseline check's own wording: the same rule decided
    assert comparison.regressions and not comparison.improvements


def test_noise_is_not_a_change_and_the_summary_lists_only_what_changed():
    comparison = compare_runs(*runs([case("q4_0", 150.0)], [case("q4_0", 151.0, seed=1)]))
    assert change(comparison, "decode_tok_per_s").status == "same"
    assert not comparison.changed
    assert terminal_summary(comparison)[-1].startswith("no change past the noise")


def test_rounds_of_one_child_per_run_decide_nothing_between_runs(tmp_path):
    """Issue 21: -20% over the rounds of one child per run, with no other runs known, is "unknown"."""
    old, new = runs([case("q4_0", 150.0)], [case("q4_0", 120.0, seed=1)])
    comparison = compare_runs(old, new)
    decode = change(comparison, "decode_tok_per_s")
    assert decode.status == "unknown" and not comparison.regressions and comparison.undecided
    assert any(line.startswith("1 not decided") for line in terminal_summary(comparison))
    page = render_compare(comparison, old, new)
    assert "0 regression(s)" in page and "1 not decided" in page and 'class="unknown"' in page
    noisy = history_of(tmp_path, [118.0, 152.0, 125.0, 149.0])  # the machine moves that much between runs
    decode = change(
        compare_runs(*runs([case("q4_0", 150.0)], [case("q4_0", 120.0, seed=1)]), noisy), "decode_tok_per_s"
    )
    assert decode.status == "same" and "within the between-run noise" in decode.message
    halved = change(compare_runs(*runs([case("q4_0", 150.0)], [case("q4_0", 75.0, seed=1)])), "decode_tok_per_s")
    assert halved.status == "regressed" and "past run_factor" in halved.message


def test_a_gate_ratio_that_moved_gets_a_ratio_of_ratios_interval(tmp_path):
    history = history_of(tmp_path, [150.0, 151.0, 149.0], gates={"speedup": ("pass", 2.62, 2.5, 2.7)})
    history.append(
        RunResult.from_dict(
            run(
                [case("q4_0", 150.0, gates={"speedup": ("pass", 2.57, 2.5, 2.7)})], started="2026-11-23T02:00:00+00:00"
            ),
            "h.json",
        )
    )
    old = case("q4_0", 150.0, gates=SPEEDUP_PASS, pair_ratio=3.0)
    new = case("q4_0", 100.0, gates={"speedup": ("pass", 2.0, 1.95, 2.05)}, pair_ratio=2.0, seed=1)
    comparison = compare_runs(*runs([old], [new]), history)
    speedup = next(r for r in comparison.ratios if r.gate == "speedup")
    assert speedup.status == "regressed"
    assert speedup.low is not None and speedup.high is not None
    assert speedup.low <= speedup.moved <= speedup.high < 0.75  # 2.0 / 3.0 = 0.67


def test_a_speedup_move_whose_pairs_hold_no_move_is_steady_not_past_the_noise():
    """The line beside a gate ratio must not say "past the noise" over a ratio-of-ratios interval reaching 1.0x.

    The new run's gate interval (1.95-2.05) lies far under the old 2.6, but its pairs spread 1x-4x: resampled
    with the old run's pairs, the move's interval reaches within min_effect, so nothing moved past the noise.
    """
    old = case("q4_0", 150.0, gates=SPEEDUP_PASS, pair_ratio=2.6)
    new = case("q4_0", 100.0, gates={"speedup": ("pass", 2.0, 1.95, 2.05)}, pair_ratio=2.0, seed=1)
    block = new["pairs"][0]
    block["variant"] = [r * f for r, f in zip(block["reference"], [1.0, 4.0, 1.2, 3.5, 1.1, 4.2], strict=True)]
    comparison = compare_runs(*runs([old], [new]))
    speedup = next(r for r in comparison.ratios if r.gate == "speedup")
    assert speedup.status == "same", speedup
    assert speedup.low is not None and speedup.high is not None and speedup.low < 1.0 < speedup.high
    assert "steady (moved" in speedup.message and "reaching within min effect" in speedup.message
    assert speedup not in comparison.regressions + comparison.undecided
    assert not any("gate speedup" in line for line in terminal_summary(comparison))


def test_verdicts_that_flip_and_cases_added_or_removed_are_listed():
    old = [case("q4_0", 150.0, gates=SPEEDUP_PASS), case("q8_0", 120.0)]
    new = [case("q4_0", 150.0, gates={"speedup": ("fail", 1.8, 1.7, 1.9)}, outcome="failed"), case("q4_k_m", 140.0)]
    comparison = compare_runs(*runs(old, new))
    flipped = {(v.name, v.old, v.new) for v in comparison.verdicts}
    assert ("gate speedup", "pass", "fail") in flipped and ("outcome", "passed", "failed") in flipped
    assert comparison.added == ("lab-a: llm::smollm2-135m-q4_k_m-llamacpp-cpu",)
    assert comparison.removed == ("lab-a: llm::smollm2-135m-q8_0-llamacpp-cpu",)


def test_different_workload_settings_are_not_compared():
    changed = case("q4_0", 100.0)
    changed["settings"] = {"gen_tokens": 16}
    comparison = compare_runs(*runs([case("q4_0", 150.0)], [changed]))
    assert [m.status for m in comparison.metrics] == ["not compared"]
    assert "different workload settings (gen_tokens)" in comparison.metrics[0].message


def test_two_single_runs_on_different_machines_are_compared_with_a_note():
    comparison = compare_runs(*runs([case("q4_0", 150.0)], [case("q4_0", 150.0)], new_machine="lab-b"))
    assert comparison.notes and "different machines (lab-a vs lab-b)" in comparison.notes[0]


def test_the_cli_learns_the_spread_from_the_history_beside_the_new_results(tmp_path, capsys):
    import json

    from benchharness import cli

    (tmp_path / "old.json").write_text(json.dumps(run([case("q4_0", 150.0)])))
    new = run([case("q4_0", 120.0, seed=1)], started="2026-11-25T10:00:00+00:00")
    (tmp_path / "new.json").write_text(json.dumps(new))
    args = ["compare", str(tmp_path / "old.json"), str(tmp_path / "new.json"), "--fail-on-regression"]
    assert cli.main(args) == 0, "no other runs known: -20% is not decided, and not a regression"
    assert "1 not decided" in capsys.readouterr().out
    history_of(tmp_path, [149.0, 151.0, 150.5])  # history.sqlite beside new.json
    assert cli.main(args) == 1
    assert "1 regressed past the noise" in capsys.readouterr().out
    assert cli.main([*args, "--history", "off"]) == 0


def test_every_field_of_a_cases_noise_rule_reads_back():
    from dataclasses import asdict

    from benchharness.settings import BaselineSettings

    policy = BaselineSettings(min_effect=0.25, alpha=0.001, metrics=("decode_tok_per_s",), run_factor=3.0)
    document = run([{**case("q4_0", 150.0), "baseline_policy": asdict(policy)}])
    (read,) = RunResult.from_dict(document, "r.json").cases
    assert read.baseline_policy == policy


def test_what_differs_in_the_environment_is_listed_above_the_figures(tmp_path):
    """Issue 23 part 6: a 'regression' that comes with an upgrade, fewer threads or new runtime settings says so."""
    old_doc = run([case("q4_0", 100.0)])
    new_doc = run([case("q4_0", 100.0, seed=1)], started="2026-11-25T10:00:00+00:00")
    new_doc["run"]["packages"] = {"benchharness": "0.1.0", "llama-cpp-python": "0.3.36"}
    new_doc["run"]["threads"] = 1
    new_doc["run"]["machine"]["isa"] = ["avx2", "avx512f"]
    new_doc["cases"][0]["info"]["runtime_settings"] = {"n_threads": "1"}
    old = RunResult.from_dict(old_doc, "old.json")
    new = RunResult.from_dict(new_doc, "new.json")
    comparison = compare_runs([old], [new])
    assert comparison.environment == (
        "lab-a: isa: ['avx2'] vs ['avx2', 'avx512f']",
        "lab-a: package llama-cpp-python 0.3.36 added",
        "lab-a: threads: 2 -> 1",
        f"lab-a: runtime settings of {new.cases[0].key}: n_threads 1 added",
    )
    lines = terminal_summary(comparison)
    assert lines[1] == "4 environment difference(s) (any change below may come from these):"
    assert "Environment differences" in render_compare(comparison, [old], [new])
    assert compare_runs([old], [old]).environment == (), "the same run: nothing differs"


def test_figures_print_with_significant_digits_and_a_relative_spread():
    """Issue 24: no '2.336e+04 items/s ± 9766 items/s', no '0.056 ms ± 0.04306 ms'."""
    from benchharness.units import show, spread

    assert show(23360.4, "items/s") == "23,360 items/s" and spread(23360.4, 9766.0) == " ± 42%"
    assert show(0.056, "ms") == "56.00 us" and show(152.71, "tok/s") == "152.7 tok/s"
    assert show(0.000123, "J") == "0.0001230 J" and "e" not in show(1e-9, "J")
    assert spread(0.0, 1.0) == "" and spread(5.0, None) == ""


def test_a_run_in_a_git_repository_with_no_commits_is_labelled_so_not_at_head(tmp_path):
    """A newcomer's finding: two digits runs in a fresh `git init` folder compared as `@ HEAD -> @ HEAD`."""
    import shutil
    import subprocess

    from conftest import digits_project, run_digits

    pytest.importorskip("onnxruntime", reason="pip install 'benchharness[onnx]'")
    pytest.importorskip("sklearn", reason="pip install 'benchharness[exporters]'")
    if shutil.which("git") is None:
        pytest.skip("git is not installed")
    root = digits_project(tmp_path / "fresh")
    subprocess.run(["git", "init", "-q", str(root)], check=True)
    code, output = run_digits(root, "-k", "fp32 and onnxruntime", "--history=off")
    assert code == 0, output[-2000:]
    done = run_cli(root, "compare", "reports/latest.json", "reports/latest.json")
    assert done.returncode == 0, done.stderr
    head = done.stdout.splitlines()[0]
    assert "@ HEAD" not in head and "no git commit: the git repository has no commits yet" in head, head
    data = json.loads((root / "reports" / "latest.json").read_text())
    assert data["run"]["git_commit"] is None  # never the word "HEAD" stored as a commit
    from benchharness.report.html import _environment  # the report page's environment table: the same words

    assert (
        dict(_environment(RunResult.from_dict(data, "r.json")))["commit"]
        == "none: the git repository has no commits yet"
    )
    data["run"]["git_commit"], data["run"]["git_none"] = "HEAD", None  # a file written before the fix
    assert "no commits yet" in RunResult.from_dict(data, "old.json").label


def test_a_run_without_a_git_commit_is_labelled_as_such_not_at_no_commit():
    data = run([case("q4_0", 150.0)], "lab-a")
    assert RunResult.from_dict(data, "a.json").label == "lab-a @ 0123456789 (2026-11-24T10:00)"
    data["run"]["git_commit"] = None
    label = RunResult.from_dict(data, "a.json").label
    assert label == "lab-a (2026-11-24T10:00; no git commit: the project folder is not a git repository)", label


def _with_rounds(data, rounds, load=None):
    """A case document whose decode figure holds exactly `rounds` (and, if given, the outside CPU load)."""
    data["round_samples"]["decode_tok_per_s"] = rounds
    data["readings"]["decode_tok_per_s"]["value"] = sum(rounds) / len(rounds)
    if load is not None:
        data["readings"]["outside_cpu_load"] = {"name": "outside_cpu_load", "unit": "", "value": load, "source": "t"}
    return data


def test_a_big_move_too_few_rounds_can_test_is_not_decided_not_same():
    """A newcomer's finding: -40% over 3 rounds a side was printed "same" ("within noise")."""
    old = _with_rounds(case("q4_0", 150.0), [149.0, 150.0, 151.0])
    new = _with_rounds(case("q4_0", 90.0, seed=1), [89.0, 90.0, 91.0])
    decode = change(compare_runs(*runs([old], [new])), "decode_tok_per_s")
    assert decode.status == "unknown" and "not decided (too few rounds to test a move this size)" in decode.message
    small = _with_rounds(case("q4_0", 150.0, seed=2), [149.0, 150.5, 151.0])  # +0.2%: nothing to decide
    assert change(compare_runs(*runs([old], [small])), "decode_tok_per_s").status == "same"


def test_a_big_move_in_rounds_scattered_by_outside_load_is_not_decided():
    """The other half of that finding: rounds measured beside other work scatter, and "same" was printed."""
    old = _with_rounds(case("q4_0", 150.0), [148.0, 149.0, 150.0, 150.5, 151.0, 152.0])
    new = _with_rounds(case("q4_0", 100.0, seed=1), [40.0, 150.0, 60.0, 149.0, 70.0, 151.0], load=0.6)
    decode = change(compare_runs(*runs([old], [new])), "decode_tok_per_s")
    assert decode.status == "unknown" and "outside CPU load new run 60%" in decode.message


def test_the_figures_beside_a_change_are_the_medians_it_was_computed_from():
    """A newcomer's finding: compare printed each side's mean beside a change between medians."""
    old = _with_rounds(case("q4_0", 150.0), [150.0, 150.0, 150.0, 150.0, 150.0, 600.0])  # one wild round
    new = _with_rounds(case("q4_0", 150.0, seed=1), [150.0] * 6)
    decode = change(compare_runs(*runs([old], [new])), "decode_tok_per_s")
    assert (decode.old, decode.new, decode.change) == (150.0, 150.0, 0.0)
    assert decode.message.endswith("median 150.0 tok/s vs the old run 150.0 tok/s"), decode.message  # says which figure


@pytest.mark.parametrize("bad", [0.0, -0.5])
def test_a_zero_or_negative_figure_is_not_compared_with_its_reason_in_one_line_not_a_traceback(tmp_path, bad):
    """Compare of two synthetic labs ended in stats.run_shift's ValueError ("needs positive figures")."""
    old = run([case("q4_0", 150.0, gates=SPEEDUP_PASS)])
    broken = _with_rounds(case("q4_0", 150.0, gates={"speedup": ("fail", bad, bad, bad)}, seed=1), [bad] * 6)
    new = run([broken], started="2026-11-25T10:00:00+00:00")
    (tmp_path / "old.json").write_text(json.dumps(old))
    (tmp_path / "new.json").write_text(json.dumps(new))
    done = run_cli(tmp_path, "compare", "old.json", "new.json", "--html", "compare.html", "--history", "off")
    assert done.returncode == 0 and done.stderr == "", done.stderr[-2000:]
    said = [
        line for line in done.stdout.splitlines() if "not compared (a between-run comparison needs positive" in line
    ]
    assert len(said) == 2, done.stdout  # the decode speed and the speedup gate, one line each
    assert any("decode_tok_per_s 150" in line for line in said) and any("speedup ratio" in line for line in said)
    assert "2 not compared:" in done.stdout and (tmp_path / "compare.html").is_file()


def test_between_runs_leaves_out_other_runs_that_recorded_no_positive_figure():
    """The same fault one step away: a crashed run's 0 in the history reached stats.run_shift's logs."""
    policy = BaselineSettings()
    replicates = judge.Replicates({"decode_tok_per_s": [0.0, 149.0, 151.0, 150.5, -1.0]})
    decided = judge.between_runs("decode_tok_per_s", 150.0, 120.0, replicates, policy, worse_if_lower=True)
    assert decided.direction == "regressed" and "over 4 old-side" in decided.reason
    for old, new in ((0.0, 120.0), (150.0, -3.0)):
        refused = judge.between_runs("decode_tok_per_s", old, new, replicates, policy, worse_if_lower=True)
        assert refused.direction == "not compared" and "needs positive figures" in refused.reason


def _synthetic_lab_nights(folder, machines):
    """Two nights of synthetic_lab.py's machines (the digits suite: small) as lab-results files, old.json and new.json."""
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "benchmarks"))
    import synthetic_lab

    from benchharness.results import lab_document

    template = synthetic_lab.load_template()
    template = {**template, "cases": [c for c in template["cases"] if c["suite"] == "digits-classifier"]}
    lab = synthetic_lab.plan(template, json.loads(synthetic_lab.NOISE.read_text()), machines, 12, 3)
    maker = synthetic_lab.NightMaker(template, lab)
    folder.mkdir()
    for name, back in (("old", 1), ("new", 0)):
        runs = [maker.document(m, m.last_night - back) for m in lab.machines]
        document = lab_document(runs)
        (folder / f"{name}.json").write_text(json.dumps(document))
    return folder / "old.json", folder / "new.json"


def test_the_html_diff_of_two_labs_holds_the_changes_and_links_each_sides_results(tmp_path):
    """compare --html of two 50-machine labs embedded both labs' results: an 83 MB page."""
    import re

    from benchharness.results import load_runs

    old, new = _synthetic_lab_nights(tmp_path / "lab", 6)
    (tmp_path / "out").mkdir()
    done = run_cli(tmp_path, "compare", str(old), str(new), "--html", "out/diff.html", "--history", "off")
    assert done.returncode == 0 and done.stderr == "", done.stderr[-2000:]
    page = (tmp_path / "out" / "diff.html").read_text()
    rows = page.count("<tr class=")
    assert rows > 100  # every figure of 6 machines is listed (under STEADY_ROWS), each side's results are not
    assert 'id="benchharness-results' not in page
    size = len(page.encode())  # ~470 bytes a listed figure (its message rides in a title), no results
    assert size < 600 * rows + 20_000 and size < old.stat().st_size / 4, (size, rows)
    links = dict(re.findall(r'<a class="side" href="([^"]+)">(old|new): ', page))
    assert {side: (tmp_path / "out" / href).resolve() for href, side in links.items()} == {"old": old, "new": new}
    again = load_runs(tmp_path / "out" / "diff.html")  # a later compare reads the page as its new side
    assert [r.data for r in again] == [r.data for r in load_runs(new)]
    new.rename(tmp_path / "moved.json")
    gone = run_cli(tmp_path, "compare", str(old), "out/diff.html")
    assert gone.returncode == 2 and gone.stderr.count("\n") == 1 and "is a compare page" in gone.stderr, gone.stderr


def test_a_lab_sized_diff_lists_what_moved_and_counts_the_steady_figures(monkeypatch):
    from benchharness.report import compare_view

    old, new = runs(
        [case("q4_0", 150.0), case("q8_0", 100.0, seed=3)], [case("q4_0", 90.0, seed=1), case("q8_0", 100.0, seed=4)]
    )
    comparison = compare_runs(old, new)
    moved = [m for m in comparison.metrics if m.status != "same"]
    steady = len(comparison.metrics) + len(comparison.ratios) - len(moved)
    assert moved and steady
    monkeypatch.setattr(compare_view, "STEADY_ROWS", 1)
    page = render_compare(comparison, old, new)
    assert page.count('<tr class="same"') == 0 and page.count("<tr class=") == len(moved)
    assert f"{steady} steady figure(s) (within the noise) are counted here, not listed" in page


def test_each_not_decided_line_says_its_own_reason():
    """A newcomer's finding: every undecided figure was put down to an unknown between-run spread and --history
    advised, even where the history was read and the run's outside load was the reason."""
    old = _with_rounds(case("q4_0", 150.0), [148.0, 149.0, 150.0, 150.5, 151.0, 152.0])
    new = _with_rounds(case("q4_0", 100.0, seed=1), [40.0, 150.0, 60.0, 149.0, 70.0, 151.0], load=0.6)
    lines = terminal_summary(compare_runs(*runs([old], [new])))
    why = next(line for line in lines if line.startswith("    why: "))
    assert why.startswith("    why: outside CPU load new run 60% over max_outside_load 20%"), why
    assert not any("(--history)" in line for line in lines)
    unknown = terminal_summary(compare_runs(*runs([case("q4_0", 150.0)], [case("q4_0", 120.0, seed=1)])))
    assert any(line.startswith("    why: between-run spread unknown: 1 old-side run(s)") for line in unknown), unknown
    assert any("(--history)" in line for line in unknown)


def test_a_page_comparing_latest_json_links_the_dated_results_of_the_same_run(tmp_path):
    """A newcomer's finding: the page linked latest.json, a copy the next run overwrites."""
    import re

    from benchharness.report.compare_view import render_compare

    folder = tmp_path / "reports"
    folder.mkdir()
    first = run([case("q4_0", 150.0)], started="2026-11-24T10:00:00+00:00")
    second = run([case("q4_0", 151.0, seed=1)], started="2026-11-25T10:00:00+00:00")
    (folder / "results-20261124T100000000000Z-1.json").write_text(json.dumps(first))
    (folder / "results-20261125T100000000000Z-2.json").write_text(json.dumps(second))
    (folder / "latest.json").write_text(json.dumps(second))
    old = [RunResult.from_dict(first, str(folder / "results-20261124T100000000000Z-1.json"))]
    new = [RunResult.from_dict(second, str(folder / "latest.json"))]
    page = render_compare(compare_runs(old, new), old, new, page=tmp_path / "diff.html")
    links = dict(re.findall(r'<a class="side" href="([^"]+)">(old|new): ', page))
    assert {side: href for href, side in links.items()}["new"] == "reports/results-20261125T100000000000Z-2.json"


def test_an_accuracy_gates_ratio_shows_in_its_own_format_and_as_exact_never_a_bare_1(tmp_path):
    """A newcomer's finding: the compare page showed accuracy retained as "1 | 1" with "no interval", as if rounds
    were missing; a deterministic figure has no interval by nature, and 1 is 100.0% on the gate's own scale."""
    kept = {"accuracy_retained": ("pass", 1.0, 0.99, 1.0)}
    (tmp_path / "old.json").write_text(json.dumps(run([case("q4_0", 150.0, gates=kept)])))
    new = run([case("q4_0", 151.0, gates=kept, seed=1)], started="2026-11-25T10:00:00+00:00")
    (tmp_path / "new.json").write_text(json.dumps(new))
    done = run_cli(tmp_path, "compare", "old.json", "new.json", "--html", "diff.html")
    assert done.returncode == 0, done.stderr
    page = (tmp_path / "diff.html").read_text()
    row = next(r for r in page.split("<tr") if "<td>accuracy_retained</td>" in r)
    cells = re.findall(r'<td class="num">([^<]*)</td>', row)
    assert cells == ["100.0%", "100.0%", "1.000x", "exact (deterministic: a re-run gives the same figure)"], row
    accuracy = next(r for r in page.split("<tr") if "<td>top1_accuracy</td>" in r)
    assert "exact (deterministic" in accuracy and "no interval" not in accuracy  # the same kind: a metric


def test_compare_names_its_sides_the_old_and_the_new_run_never_a_baseline(tmp_path):
    """A newcomer's finding: `why: outside CPU load baseline 82%, this run 74%`, and a tooltip saying "re-record it
    on a quiet machine", in a compare of two runs where no baseline is involved."""
    old = _with_rounds(case("q4_0", 150.0), [148.0, 149.0, 150.0, 150.5, 151.0, 152.0], load=0.82)
    new = _with_rounds(case("q4_0", 100.0, seed=1), [40.0, 150.0, 60.0, 149.0, 70.0, 151.0], load=0.74)
    (tmp_path / "old.json").write_text(json.dumps(run([old])))
    (tmp_path / "new.json").write_text(json.dumps(run([new], started="2026-11-25T10:00:00+00:00")))
    done = run_cli(tmp_path, "compare", "old.json", "new.json", "--html", "diff.html")
    assert done.returncode == 0, done.stderr
    why = next(line for line in done.stdout.splitlines() if line.startswith("    why: "))
    assert why.startswith("    why: outside CPU load old run 82%, new run 74% over max_outside_load 20%"), why
    page = (tmp_path / "diff.html").read_text()
    for text in (done.stdout, page):
        assert "re-record" not in text.lower() and "baseline 82%" not in text and "vs baseline" not in text
    assert "the old run was recorded under 82% outside CPU load" in page


def test_a_not_decided_change_carries_the_judges_own_reason():
    """compare read why a figure was not decided out of the verdict message's prose; the judge's decision knows it."""
    old = _with_rounds(case("q4_0", 150.0), [148.0, 149.0, 150.0, 150.5, 151.0, 152.0])
    loaded = _with_rounds(case("q4_0", 100.0, seed=1), [40.0, 150.0, 60.0, 149.0, 70.0, 151.0], load=0.6)
    busy = change(compare_runs(*runs([old], [loaded])), "decode_tok_per_s")
    assert busy.status == "unknown"
    assert busy.reason.startswith("outside CPU load new run 60% over max_outside_load 20%"), busy.reason
    spread = change(compare_runs(*runs([case("q4_0", 150.0)], [case("q4_0", 120.0, seed=1)])), "decode_tok_per_s")
    assert spread.status == "unknown" and spread.reason.startswith("between-run spread unknown: 1 old-side run(s)")
    assert "under run_factor" in spread.reason and "not decided" in spread.message  # the message still says it
    decided = change(compare_runs(*runs([case("q4_0", 150.0)], [case("q4_0", 151.0, seed=1)])), "decode_tok_per_s")
    assert decided.reason == ""  # only an undecided change has a reason to give


def test_a_not_decided_gate_ratio_carries_the_judges_own_reason():
    old = case("q4_0", 150.0, gates={"speedup": ("pass", 2.6, 2.5, 2.7)})
    new = case("q4_0", 150.0, gates={"speedup": ("pass", 2.0, 1.95, 2.05)}, seed=1)
    (ratio,) = compare_runs(*runs([old], [new])).ratios
    assert ratio.status == "unknown", ratio
    assert ratio.reason.startswith("between-run spread unknown"), ratio.reason


def test_a_not_decided_row_says_why_in_text_and_one_word_names_the_state(tmp_path):
    """A newcomer's findings: the page's "why" of a not-decided row lived only in a hover tooltip (lost to a reader
    who prints the page), and the state read "not decided" in the summary but "unknown" in the status column."""
    (tmp_path / "old.json").write_text(json.dumps(run([case("q4_0", 150.0)])))
    new = run([case("q4_0", 120.0, seed=1)], started="2026-11-25T10:00:00+00:00")
    (tmp_path / "new.json").write_text(json.dumps(new))
    done = run_cli(tmp_path, "compare", "old.json", "new.json", "--html", "diff.html")
    assert done.returncode == 0, done.stderr
    row = next(line for line in done.stdout.splitlines() if "decode_tok_per_s" in line and " -> " in line)
    assert row.endswith(": not decided"), row
    page = (tmp_path / "diff.html").read_text()
    decode = next(r for r in page.split("<tr") if "<td>decode_tok_per_s</td>" in r)
    text = re.sub(r'title="[^"]*"', "", decode)  # what a printed page shows: no tooltip
    assert '>not decided<div class="why">why: between-run spread unknown: 1 old-side run(s)' in text, decode
    assert ">unknown<" not in page


def _unconfirmed_speedup(first: float, rerun: float, seed: int) -> dict:
    """A case whose speed gate failed at `first` and whose confirming re-run (one block of pairs) read `rerun`."""
    data = case("q4_0", 150.0, gates={"speedup": ("inconclusive", first, first * 0.9, first * 1.1)}, seed=seed)
    data["verdicts"][0]["confirmation"] = "not confirmed"
    reference = [50.0, 51.0, 49.5, 50.5]
    data["confirm_pairs"] = [
        {
            "case_id": data["id"],
            "metric": "decode_tok_per_s",
            "variant": [r * rerun for r in reference],
            "reference": reference,
            "order": ["VR", "RV", "VR", "RV"],
            "guard_start": {"cpu_mhz": None, "governor": None, "temperature_c": None, "on_ac_power": None},
            "guard_end": {"cpu_mhz": None, "governor": None, "temperature_c": None, "on_ac_power": None},
            "timed_s": 1.0,
        }
    ]
    return data


def test_a_gate_ratio_whose_failure_its_re_run_did_not_confirm_says_so_beside_the_figure(tmp_path):
    """A newcomer's finding: the row showed the old side's first child's 0.485, which its own re-run (1.37x) did not
    confirm, beside "gate speedup: inconclusive -> fail": the figure the verdict stands on was nowhere."""
    (tmp_path / "old.json").write_text(json.dumps(run([_unconfirmed_speedup(0.485, 1.37, 0)])))
    failed = case("q4_0", 151.0, gates={"speedup": ("fail", 0.47, 0.45, 0.49)}, seed=1)
    (tmp_path / "new.json").write_text(json.dumps(run([failed], started="2026-11-25T10:00:00+00:00")))
    done = run_cli(tmp_path, "compare", "old.json", "new.json", "--html", "diff.html")
    assert done.returncode == 0, done.stderr
    assert "gate speedup: inconclusive (unconfirmed; re-run 1.37x) -> fail" in done.stdout, done.stdout
    page = (tmp_path / "diff.html").read_text()
    row = next(r for r in page.split("<tr") if "<td>speedup</td>" in r)
    assert '<td class="num">0.48x (unconfirmed; re-run 1.37x)</td><td class="num">0.47x</td>' in row, row
    assert '<td class="inconclusive">inconclusive (unconfirmed; re-run 1.37x)</td><td class="fail">fail</td>' in page
