"""The report's first screen: the cross-runtime front's points, front membership and picks; the gate panels' rows."""

from __future__ import annotations

from typing import Any

from run_documents import case, reading, run

from benchharness.config import parse_targets
from benchharness.report import figures
from benchharness.report.changes import changes
from benchharness.report.front import front_charts
from benchharness.report.html import render_report
from benchharness.report.targets import pick
from benchharness.results import RunResult

PASS = {"speedup": ("pass", 2.6, 2.5, 2.7), "accuracy_retained": ("pass", 0.99, 0.97, 1.0)}
LOSSY = {**PASS, "accuracy_retained": ("fail", 0.80, 0.78, 0.82)}


def in_suite(data: dict[str, Any], suite: str) -> dict[str, Any]:
    """`data` as measured by another suite (its own key), as a second runtime's suite would."""
    return {**data, "suite": suite, "key": f"{suite}::{data['id']}"}


def lab() -> RunResult:
    """Two suites, two runtimes, one model on one device: llama.cpp's four variants and ONNX Runtime's int8."""
    cases = [
        case("f32", 50.0, accuracy=0.49),
        case("q8_0", 120.0, accuracy=0.48, gates=PASS),
        case("q4_1", 110.0, accuracy=0.47),  # no gate verdicts: no accuracy retained, so no target picks it
        case("q4_0", 160.0, accuracy=0.40, gates=LOSSY, outcome="xfailed"),
        in_suite(case("int8", 130.0, backend="onnxruntime", accuracy=0.485, gates=PASS), "llm-ort"),
    ]
    return RunResult.from_dict(run(cases), "r.json")


PHONE = parse_targets({"phone": {"min_accuracy_retained": 0.95, "prefer": ["speed"]}})["phone"]


def test_one_chart_holds_every_backend_and_variant_across_suites_with_the_front_marked():
    result = lab()
    (chart,) = front_charts(result)
    assert (chart.model, chart.device, chart.machine) == ("smollm2-135m", "cpu", "lab-a")
    assert (chart.speed_metric, chart.accuracy_metric) == ("decode_tok_per_s", "top1_accuracy")
    by_label = {p.label: p for p in chart.points}
    assert set(by_label) == {
        "llamacpp f32", "llamacpp q8_0", "llamacpp q4_1", "llamacpp q4_0", "onnxruntime int8",
    }  # fmt: skip
    # ONNX Runtime's int8 is both faster and more accurate than q8_0 and q4_1: they leave the front.
    assert {p.label for p in chart.points if p.on_front} == {"llamacpp f32", "onnxruntime int8", "llamacpp q4_0"}
    assert by_label["onnxruntime int8"].accuracy == 0.485 and abs(by_label["onnxruntime int8"].speed - 130) < 3
    assert chart.marks == () and chart.left_off == ()


def test_each_targets_pick_and_runner_up_are_marked_on_the_chart():
    result = lab()
    (chart,) = front_charts(result, pick(PHONE, result))
    assert [(m.target, m.role, m.point, m.on_chart) for m in chart.marks] == [
        ("phone", "pick", "onnxruntime int8", True),
        ("phone", "runner-up", "llamacpp q8_0", True),
    ]
    svg = figures.front_figure(chart)
    assert svg is not None and "phone pick" in svg and "phone runner-up" in svg and "onnxruntime int8" in svg


def test_a_variant_the_axis_cannot_hold_is_named_not_dropped():
    answered = case("q8_0", 120.0)
    answered["readings"]["answer_exact_match"] = reading("answer_exact_match", "fraction", 0.75, 0.0, 24)
    unread = case("q4_0", 160.0)
    unread["readings"]["top1_accuracy"] = reading("top1_accuracy", "fraction", None)
    crashed = {**case("q5_0", 0.0, backend="ort"), "outcome": "error", "readings": {}, "message": "died from SIGSEGV"}
    cases = [case("f32", 50.0), case("q4_1", 110.0), answered, unread, crashed]
    (chart,) = front_charts(RunResult.from_dict(run(cases), "r"))
    assert chart.accuracy_metric == "top1_accuracy"  # what most variants' gate judges
    assert [p.label for p in chart.points] == ["llamacpp f32", "llamacpp q4_1"]
    assert chart.left_off == (
        "llamacpp q8_0: its gate judges answer_exact_match, not top1_accuracy",
        "llamacpp q4_0: no top1_accuracy reading",
        "ort q5_0: error (see Failed)",
    )


def test_the_same_backend_and_variant_in_two_suites_are_told_apart_by_suite():
    twice = [case("q8_0", 120.0), in_suite(case("q8_0", 100.0), "long")]
    (chart,) = front_charts(RunResult.from_dict(run(twice), "r.json"))
    assert [p.label for p in chart.points] == ["llamacpp q8_0 (llm)", "llamacpp q8_0 (long)"]


def test_the_report_opens_with_the_front_then_what_failed_and_what_changed():
    page = render_report([lab()], targets=(PHONE,))
    first = page.index('<section id="first-screen">')
    assert first < page.index('<section id="changes">') < page.index('<section id="recommendations">')
    screen = page[first : page.index("</section>", first)]
    assert screen.count("<svg") == 1 and "phone pick" in screen
    assert "target <b>phone</b>: ship <b>int8 on onnxruntime</b>; runner-up q8_0 on llamacpp" in screen
    # The suites no longer draw fronts of their own: the one chart is the cross-runtime one.
    assert page.count("Pareto front (ringed)") == 1
    assert "nothing was compared: no baseline or earlier ratio for this run" in page


def test_what_changed_lists_regressions_first():
    data = run([case("q8_0", 120.0), case("q4_0", 160.0)])
    moves = [("q8_0", "improved", "pass"), ("q4_0", "regressed", "fail")]
    for row, (_, direction, status) in zip(data["cases"], moves, strict=True):
        row["verdicts"].append(
            {
                "check": "baseline", "name": "decode_tok_per_s", "status": status, "message": f"{direction} 9%",
                "estimate": None, "low": None, "high": None, "threshold": None, "n": 6, "rule": "",
                "known_breach": False, "confirmation": None, "direction": direction,
            }
        )  # fmt: skip
    found = changes(RunResult.from_dict(data, "r.json"))
    assert [(c.case_id, c.direction) for c in found.changes] == [
        ("smollm2-135m-q4_0-llamacpp-cpu", "regressed"),
        ("smollm2-135m-q8_0-llamacpp-cpu", "improved"),
    ]
    assert found.summary() == "1 regressed, 1 improved of 2 check(s)"


def test_a_first_run_says_nothing_was_compared_not_that_nothing_moved():
    """A newcomer's first run said "nothing moved past the noise (4 baseline and ratio check(s))" with no baseline."""
    data = run([case("q8_0", 120.0), case("q4_0", 160.0)])
    for row in data["cases"]:
        row["verdicts"].append(
            {
                "check": "baseline", "name": "no-baseline", "status": "unavailable", "message": "none stored",
                "estimate": None, "low": None, "high": None, "threshold": None, "n": None, "rule": "",
                "known_breach": False, "confirmation": None, "direction": None,
            }
        )  # fmt: skip
    found = changes(RunResult.from_dict(data, "r.json"))
    assert found.checked == 0 and found.summary().startswith("nothing was compared"), found
