"""The child's reply, typed (benchharness/child_info.py): real replies round-trip exactly, bad ones fail naming the key.

A results file written by this version must load and write back byte for byte (baselines, history and merge
keep what they read); a file written earlier in schema 4 must still load (tests/data/results_v4_*.json are two
such files, as their runs wrote them); a key the reader does not know, or a value of the wrong type, is a
one-line error that names the key, never a silent default.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fake_child import FakeChild, registered_fake, toy_session

from benchharness.child_info import ChildInfo, Flag
from benchharness.errors import ReplyError, StoreError
from benchharness.results import MIGRATIONS, SCHEMA_VERSION, load_runs
from benchharness.storage import migrate
from conftest import digits_project, run_digits

DATA = Path(__file__).parent / "data"
NO_GATES = (
    "[tool.benchharness.suites.toy.gates]\nspeedup = false\nmemory_reduction = false\naccuracy_retained = false\n"
)


def _round_trips(path: Path) -> list[ChildInfo]:
    """Every measured case's info in the results file at `path`, after checking it writes back exactly as stored."""
    stored = json.loads(path.read_text())["cases"]
    (run,) = load_runs(path)
    infos = []
    for raw, case in zip(stored, run.cases, strict=True):
        if case.measurement is None:
            continue
        assert json.dumps(case.measurement.info.to_dict(), sort_keys=True) == json.dumps(raw["info"], sort_keys=True)
        for raw_again, again in zip(raw["confirmations"], case.confirmations, strict=True):
            assert again.to_dict() == raw_again
        infos.append(case.measurement.info)
    return infos


@pytest.mark.e2e
def test_a_digits_reply_on_onnx_runtime_round_trips_exactly_through_its_results_file(tmp_path):
    root = digits_project(tmp_path)
    code, output = run_digits(root, "--no-baseline")
    assert code == 0, output
    infos = _round_trips(root / "reports" / "latest.json")
    assert infos and all(i.kind == "classifier" and i.lm is None for i in infos)
    for info in infos:  # the one-call kind's facts, the meters', the runner's and the parent's, each typed
        assert (
            info.calls is not None
            and info.calls.batch_sizes
            and set(info.calls.calls) == {str(b) for b in info.calls.batch_sizes}
        )
        assert info.cpu is not None and info.cpu.cpu_per_core and info.cpu.memory_available_bytes > 0
        assert info.memory is not None and info.runtime_settings is not None
        assert info.runtime_settings["page_cache"] and info.variant_key and info.variant_file
        assert info.timed_s > 0 and info.accuracy_s >= 0 and all(isinstance(f, Flag) for f in info.flags)


@pytest.mark.slow
def test_a_causal_lm_reply_of_the_toy_child_round_trips_exactly(toy_project, pytester):
    """The real runner and causal-LM kind in a child, on the planted fake backend: the LM facts come back typed."""
    toy_project(["ref", "ok"]).assert_outcomes(passed=2)
    infos = _round_trips(pytester.path / "reports" / "latest.json")
    assert [i.kind for i in infos] == ["causal-lm", "causal-lm"]
    lm = infos[0].lm
    assert lm is not None and lm.gen_tokens == 4 and lm.depths["headline"] and lm.timed_tokens is not None
    assert lm.timed_tokens["matched_by_scoring_path"] == 5 and infos[0].calls is None


@pytest.fixture
def fake_backend() -> Iterator[None]:
    yield from registered_fake()


def test_the_fake_childs_reply_with_what_the_parent_adds_round_trips_exactly(tmp_path, fake_backend):
    """In process: the parent's additions (variant, flags with their advice) are written and read back unchanged."""
    planted = Flag("inconsistent", "decode_tok_per_s varies 30% over 12 rounds (CV > 20%)", "CV 30%")
    child = FakeChild({"ref": [100.0]}, flags=(planted,))
    session = toy_session(tmp_path, ["ref"], child, NO_GATES, history="off")
    for case in session.cases("toy"):
        session.run(case)
        session.records[case.key].outcome = "passed"
    session.finish()
    session.close()
    (info,) = _round_trips(tmp_path / "reports" / "latest.json")
    assert info.variant_key and info.variant_file and info.variant_file.endswith("ref.gguf")
    assert info.lm is not None and (info.lm.prompt_tokens, info.lm.gen_tokens) == (8, 4)
    (flag,) = info.flags  # the child's flag, told by the session what it usually means and what helps
    assert (flag.name, flag.figure, flag.value) == (planted.name, planted.figure, planted.value)
    assert flag.causes and flag.actions and flag.actions.startswith("run on a quiet machine")


@pytest.mark.parametrize("name", ["results_v4_2026-11-30_digits.json", "results_v4_2026-11-30_toy_lm.json"])
def test_results_written_by_earlier_schema_4_versions_still_load(name):
    """Written before the keys added since (runtime_settings of a one-call child, huge_pages, eval_data, timed_tokens)."""
    (run,) = load_runs(DATA / name)
    measured = [c for c in run.cases if c.measurement is not None]
    assert measured and all(c.measurement.info.kind == c.case.kind for c in measured)
    info = measured[0].measurement.info
    assert info.huge_pages is None and (info.lm is None or info.lm.timed_tokens is None)
    assert all(c.measurement.info.timed_s > 0 for c in measured)


def test_schema_4_names_read_as_schema_5s_variant_and_check(tmp_path):
    """Version 4 called the variant `quant` and a verdict's check its `kind`; read back, the values are the same."""
    raw = json.loads((DATA / "results_v4_2026-11-30_toy_lm.json").read_text())
    old = {c["key"]: (c["quant"], [(v["kind"], v["name"], v["status"]) for v in c["verdicts"]]) for c in raw["cases"]}
    (run,) = load_runs(DATA / "results_v4_2026-11-30_toy_lm.json")
    new = {c.case.key: (c.case.variant, [(v.check, v.name, v.status) for v in c.verdicts]) for c in run.cases}
    assert new == old and any(checks for _, checks in new.values())
    migrated = migrate(raw, "results", "old.json", SCHEMA_VERSION, MIGRATIONS)
    assert migrated["schema_version"] == SCHEMA_VERSION == 5
    assert all("quant" not in c and all("kind" not in v for v in c["verdicts"]) for c in migrated["cases"])


def _reply() -> dict[str, Any]:
    """A stored causal-LM reply's info, as the toy LM file holds it."""
    cases = json.loads((DATA / "results_v4_2026-11-30_toy_lm.json").read_text())["cases"]
    return copy.deepcopy(next(c["info"] for c in cases if c["readings"]))


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d.update(timed_ms=1.0), r"^info\.timed_ms is not a key this version knows \(unknown keys: \['timed_ms'\]\)$"),
        (lambda d: d.update(timed_s="fast"), r"^info\.timed_s is 'fast' \(str\), not float$"),
        (lambda d: d.update(threads=True), r"^info\.threads is True \(bool\), not int$"),
        (lambda d: d.update(accuracy_scored=1), r"^info\.accuracy_scored is 1 \(int\), not bool$"),
        (lambda d: d.pop("runtime"), r"^info has no 'runtime' key; the file is not a benchharness reply, re-record it$"),
        (lambda d: d.pop("gen_tokens"), r"^info has no 'gen_tokens' key"),  # a causal-LM group with a key missing
        (lambda d: d.pop("memory_available_bytes"), r"^info has no 'memory_available_bytes' key"),
        (lambda d: d.update(flags=[{"name": "x", "figure": "y", "value": 1}]), r"^info\.flags\[0\]\.value is 1 \(int\), not str$"),
        (lambda d: d.update(flags=[{"name": "x", "figure": "y", "value": "v", "why": "z"}]), r"^info\.flags\[0\]\.why is not a key"),
        (lambda d: d.update(depths={"headline": 3}), r"^info\.depths\.headline is 3 \(int\), not str$"),
        (lambda d: d.update(calls={"1": 3}), r"^info has no 'batch_sizes' key"),  # a one-call key without the rest
    ],
)  # fmt: skip
def test_a_reply_that_does_not_fit_is_one_line_naming_the_key(change, message):
    data = _reply()
    ChildInfo.from_dict(data)  # as stored, it fits
    change(data)
    with pytest.raises(ReplyError, match=message):
        ChildInfo.from_dict(data)


def test_a_stored_case_whose_info_does_not_fit_names_the_file_and_the_key(tmp_path):
    data = json.loads((DATA / "results_v4_2026-11-30_toy_lm.json").read_text())
    measured = next(c for c in data["cases"] if c["readings"])
    measured["info"]["throttled"] = 3
    path = tmp_path / "results.json"
    path.write_text(json.dumps(data))
    with pytest.raises(StoreError, match=rf"^{path} case {measured['key']} is not a readable .*info\.throttled is 3"):
        load_runs(path)


def test_a_stored_case_without_a_model_kind_is_refused_naming_the_file(tmp_path):
    """Every case has had its kind since schema 2; there is no default kind to fall back on."""
    data = json.loads((DATA / "results_v4_2026-11-30_digits.json").read_text())
    del data["cases"][0]["kind"]
    path = tmp_path / "results.json"
    path.write_text(json.dumps(data))
    key = data["cases"][0]["key"]
    with pytest.raises(StoreError, match=rf"^{path} case {key} has no model kind \(got None\); .* re-record it$"):
        load_runs(path)


def test_a_version_1_case_takes_its_kind_from_what_its_child_recorded():
    """Version 1 kept the kind only in the child's info; a case never measured there has none to take."""
    measured = {"id": "a", "suite": "s", "info": {"kind": "encoder"}, "verdicts": []}
    unmeasured = {"id": "b", "suite": "s", "info": {}, "verdicts": []}
    data = migrate(
        {"schema_version": 1, "run": {}, "cases": [measured, unmeasured]}, "results", "old.json", 4, MIGRATIONS
    )
    assert [c.get("kind") for c in data["cases"]] == ["encoder", None]
