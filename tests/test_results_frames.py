"""`load_dataframe` and `load_verdicts`: what a pandas user reads from a results file, an HTML report and a lab file.

The documents are run_documents.py's (the figures made up, the shape the real writer's); each is read from disk
through `load_runs`, as a notebook would.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pandas as pd
import pytest
from run_documents import case, reading, run

from benchharness.report.html import write_report
from benchharness.results import RunResult, lab_document, load_dataframe, load_runs, load_verdicts

GATES = {"speedup": ("pass", 2.4, 2.2, 2.6), "accuracy_retained": ("fail", 0.91, 0.89, 0.93)}


def document(machine: str, commit: str, started: str) -> dict:
    """One run: a reference and a q8_0 with gates, one figure unavailable and a p90 measured without a spread."""
    variant = case("q8_0", 120.0, gates=GATES, seed=1)
    variant["readings"]["energy_j"] = reading("energy_j", "J", None, 0.0, 0)  # as files before null stdev kept it
    variant["readings"]["decode_latency_p90_ms"] = {**reading("decode_latency_p90_ms", "ms", 9.5), "stdev": None}
    data = run([case("f32", 50.0), variant], machine=machine, started=started)
    data["run"]["git_commit"] = commit
    return data


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    a = document("lab-a", "aaaa111", "2026-11-24T10:00:00+00:00")
    b = document("lab-b", "bbbb222", "2026-11-25T10:00:00+00:00")
    results = tmp_path / "results-a.json"
    results.write_text(json.dumps(a))
    (tmp_path / "results-b.json").write_text(json.dumps(b))
    report = write_report(tmp_path / "latest.html", [RunResult.from_dict(a, str(results))])
    lab = tmp_path / "lab_files" / "results.json"
    lab.parent.mkdir()
    lab.write_text(json.dumps(lab_document([a, b])))
    return {"results": results, "b": tmp_path / "results-b.json", "report": report, "lab": lab}


@pytest.mark.parametrize("kind", ["results", "report", "lab"])
def test_the_frame_reads_whatever_load_runs_reads(files, kind):
    frame = load_dataframe(files[kind])
    runs = load_runs(files[kind])
    assert sorted(frame.machine_id.unique()) == sorted(r.machine_id for r in runs)
    assert len(frame) == sum(len(c.measurement.readings) for r in runs for c in r.cases if c.measurement)


def test_two_runs_concatenated_still_tell_their_rows_apart(files):
    frame = pd.concat([load_dataframe(files["results"]), load_dataframe(files["b"])], ignore_index=True)
    decode = frame[(frame.metric == "decode_tok_per_s") & (frame.variant == "q8_0")]
    assert list(decode.machine_id) == ["lab-a", "lab-b"]
    assert list(decode.git_commit) == ["aaaa111", "bbbb222"]
    assert list(decode.started.str[:10]) == ["2026-11-24", "2026-11-25"]


def test_what_was_not_measured_is_nan_never_zero(files):
    frame = load_dataframe(files["results"]).set_index(["variant", "metric"])
    energy = frame.loc[("q8_0", "energy_j")]
    assert math.isnan(energy.value) and math.isnan(energy.stdev) and pd.isna(energy.n)
    assert energy.unavailable_reason == "not measured here"
    p90 = frame.loc[("q8_0", "decode_latency_p90_ms")]
    assert p90.value == 9.5 and math.isnan(p90.stdev)
    single = frame.loc[("q8_0", "peak_rss_bytes")]  # one figure stored with 0.0 by older files: no spread either
    assert math.isnan(single.stdev) and single.n == 1
    decode = frame.loc[("q8_0", "decode_tok_per_s")]
    assert decode.stdev > 0 and decode.n == 6  # a measured spread stays
    assert frame.value.dtype == "float64" and frame.stdev.dtype == "float64" and str(frame.n.dtype) == "Int64"


def test_a_reading_without_a_spread_writes_null_and_reads_back_none(tmp_path):
    from benchharness.readings import Reading

    p90 = Reading("decode_latency_p90_ms", "ms", 9.5, n=20)
    assert p90.stdev is None and math.isnan(p90.spread) and p90.to_dict()["stdev"] is None
    assert Reading.from_dict(p90.to_dict()).stdev is None
    assert Reading.from_dict({**p90.to_dict(), "stdev": 0.0}).stdev == 0.0  # measured over 20 rounds: a real zero
    assert Reading.unavailable("energy_j", "J", "no counter").stdev is None


@pytest.mark.parametrize("kind", ["results", "report", "lab"])
def test_verdicts_one_row_per_case_and_verdict(files, kind):
    frame = load_verdicts(files[kind])
    assert list(frame.columns[:3]) == ["machine_id", "started", "git_commit"]
    per_run = frame[frame.machine_id == "lab-a"].set_index("name")
    assert sorted(per_run.index) == ["accuracy_retained", "speedup"]
    assert set(per_run.check) == {"gate"} and set(per_run.variant) == {"q8_0"}
    speed = per_run.loc["speedup"]
    assert (speed.status, speed.estimate, speed.low, speed.high, speed.threshold) == ("pass", 2.4, 2.2, 2.6, 2.0)
    assert per_run.loc["accuracy_retained"].status == "fail"
    assert len(frame) == 2 * frame.machine_id.nunique()


def test_verdicts_merge_with_the_readings_on_the_case_columns(files):
    verdicts = load_verdicts(files["results"])
    readings = load_dataframe(files["results"])
    decode = readings[readings.metric == "decode_tok_per_s"][["machine_id", "started", "id", "value"]]
    merged = verdicts.merge(decode, on=["machine_id", "started", "id"])
    assert len(merged) == 2 and (merged.value > 100).all()


def test_a_run_without_verdicts_is_an_empty_frame_with_the_columns(tmp_path):
    path = tmp_path / "results.json"
    path.write_text(json.dumps(run([case("f32", 50.0)])))
    frame = load_verdicts(path)
    assert frame.empty and {"check", "name", "status", "estimate", "reason"} <= set(frame.columns)


def test_the_readmes_example_runs_on_a_report_and_a_lab_file(files, tmp_path, monkeypatch):
    """The Results paragraph's three lines, as a newcomer pastes them (the paths moved into this project)."""
    text = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    snippet = text.split("frame = pd.concat(", 1)[1].split("```", 1)[0]
    (tmp_path / "reports").mkdir()
    files["report"].rename(tmp_path / "reports" / "latest.html")
    files["results"].rename(tmp_path / "reports" / "latest.json")
    monkeypatch.chdir(tmp_path)
    scope = {"pd": pd, "load_dataframe": load_dataframe, "load_verdicts": load_verdicts}
    exec("frame = pd.concat(" + snippet, scope)
    assert sorted(scope["frame"].machine_id.unique()) == ["lab-a", "lab-b"]
