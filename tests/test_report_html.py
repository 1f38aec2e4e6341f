"""The HTML report's own rules (report/html.py), on run documents built in the test."""

from run_documents import case, run

from benchharness.report.html import _environment
from benchharness.results import RunResult


def test_a_suite_with_its_own_workload_is_named_in_the_environment():
    """A newcomer's finding: the header showed only the global workload, not what a suite measured with."""
    own = case("q4_0", 150.0)
    own["suite"], own["key"] = "long", "long::" + own["id"]
    own["settings"] = {"gen_tokens": 256}
    same = case("f32", 50.0)
    same["settings"] = {"gen_tokens": 64}
    rows = dict(_environment(RunResult.from_dict(run([same, own]), "r.json")))
    assert rows["workload"] == "gen_tokens=64"
    assert rows["workload of suite long"] == "gen_tokens=256"
    assert not any(key.startswith("workload of suite") and key != "workload of suite long" for key in rows)
