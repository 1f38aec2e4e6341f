"""Which configuration to ship: the Pareto front and the recommendation sentence."""

from hypothesis import given
from hypothesis import strategies as st
from run_documents import case, run

from benchharness.report.recommend import pareto_front, recommend
from benchharness.results import RunResult

PASS_ALL = {"speedup": ("pass", 2.6, 2.5, 2.7), "accuracy_retained": ("pass", 0.99, 0.97, 1.0)}

points = st.lists(st.tuples(st.floats(0, 1000, allow_nan=False), st.floats(0, 1, allow_nan=False)), max_size=12)


@given(points)
def test_the_front_is_exactly_the_points_nothing_beats(pts):
    front = pareto_front(pts)
    for (x, y), on in zip(pts, front, strict=True):
        beaten = any(ox >= x and oy >= y and (ox > x or oy > y) for ox, oy in pts)
        assert on == (not beaten)
    if pts:
        assert any(front)  # a non-empty set always has a best point


def test_recommends_the_fastest_passing_variant_and_the_smallest_passing_one():
    data = run(
        [
            case("f32", 50.0, size=500 * 2**20),
            case("q8_0", 120.0, gates=PASS_ALL, size=140 * 2**20),
            case("q4_1", 110.0, gates=PASS_ALL, size=90 * 2**20),
            case("q4_0", 160.0, gates={**PASS_ALL, "accuracy_retained": ("fail", 0.9, 0.88, 0.92)}, outcome="xfailed"),
        ]
    )
    (rec,) = recommend(RunResult.from_dict(data, "r.json"))
    assert rec.fastest is not None and rec.fastest.case.case.variant == "q8_0"  # q4_0 is faster but fails a gate
    assert rec.smallest is not None and rec.smallest.case.case.variant == "q4_1"
    assert rec.sentence.startswith("smollm2-135m on cpu (lab-a): ship q8_0 on llamacpp, 120")
    assert "the smallest that passes is q4_1 on llamacpp (90.0 MiB file" in rec.sentence


def test_without_a_passing_variant_it_says_so_and_names_the_reference():
    data = run([case("f32", 50.0), case("q4_0", 160.0, gates={"speedup": ("inconclusive", 2.0, 1.9, 2.1)})])
    (rec,) = recommend(RunResult.from_dict(data, "r.json"))
    assert rec.fastest is None
    assert "no optimized variant passes every gate among 2 measured; ship the reference f32 on llamacpp" in rec.sentence


def test_the_front_uses_the_accuracy_the_gate_judges_the_teams_answers_where_declared():
    from run_documents import reading

    from benchharness.report.recommend import accuracy_metric

    plain, answered = case("q4_0", 100.0), case("q8_0", 80.0)
    answered["readings"]["answer_exact_match"] = reading("answer_exact_match", "fraction", 0.75, 0.0, 24)
    runs = RunResult.from_dict(run([plain, answered]), "r.json")
    by_variant = {c.case.variant: c for c in runs.cases}
    assert accuracy_metric(by_variant["q4_0"]) == "top1_accuracy"
    assert accuracy_metric(by_variant["q8_0"]) == "answer_exact_match"
