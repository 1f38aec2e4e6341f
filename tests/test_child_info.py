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
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from child_facts import child_info, lm_facts
from fake_child import FakeChild, registered_fake, toy_session

from benchharness.child_info import ChildInfo, Flag
from benchharness.errors import ReplyError, StoreError
from benchharness.evaldata import BUILTIN, DataFile, EvalData
from benchharness.formats.composition import composition
from benchharness.meters.guards import GuardReading, read_guards
from benchharness.meters.huge_pages import HugePages, huge_page_use
from benchharness.models.provenance import Provenance
from benchharness.models.traffic import TokenTraffic
from benchharness.results import MIGRATIONS, SCHEMA_VERSION, load_runs
from benchharness.storage import migrate
from benchharness.sustained import Sustained, run_sustained
from benchharness.tasks.divergence import KlStatistics, per_token, summarize
from benchharness.tasks.timed_tokens import TokenCheck, token_hash
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
    assert lm.timed_tokens.matched_by_scoring_path == 5 and infos[0].calls is None
    assert isinstance(infos[0].guard_start, GuardReading) and isinstance(infos[0].eval_data, EvalData)


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
    assert all(isinstance(c.measurement.info.guard_start, GuardReading) for c in measured)  # typed, not a dict
    if name.endswith("digits.json"):  # the parent's provenance and weights, and the built-in data, read typed
        assert info.provenance is not None and info.provenance.recipe and info.provenance.tools
        assert info.weights is not None and info.weights.total > 0 and info.eval_data == EvalData()


class _Slows:
    """A clock and a round for run_sustained: 100 tok/s, then 2/3 of it after 12 s; the clock falls as it runs."""

    def __init__(self) -> None:
        self.now = 0.0

    def round(self) -> tuple[int, float]:
        seconds = 0.1 * (1.5 if self.now >= 12.0 else 1.0)
        self.now += seconds
        return 10, seconds

    def guards(self) -> GuardReading:
        return GuardReading(cpu_mhz=3000.0 - self.now, governor="performance", temperature_c=40.0, on_ac_power=True)


def _full() -> ChildInfo:
    """A causal-LM reply with every nested object filled by the code that makes it (no hand-written figures)."""
    rng = np.random.default_rng(0)
    reference = np.log(rng.dirichlet(np.ones(16), size=40)).astype(np.float32)
    variant = np.log(rng.dirichlet(np.ones(16), size=40)).astype(np.float32)
    slows = _Slows()
    notes = DataFile("/data/notes.txt", 2048, "ab" * 32, 40, "line")
    prompts = DataFile("/data/prompts.jsonl", 725, "cd" * 32, 12, "prompt")
    olive = Provenance(
        "olive", "Olive 0.13.0", "olive-ai 0.13.0", olive="0.13.0", passes=("mb (ModelBuilder)",), command="olive x"
    )
    return child_info(
        guard_start=read_guards(),  # this machine's, whatever it exposes
        guard_end=slows.guards(),
        runtime_settings={"threads": "2", "page_cache": "dropped before load: 1 file, 1 MiB"},
        eval_data=EvalData(text=(notes,), prompts=prompts),
        huge_pages=huge_page_use() or HugePages(anon_huge_mib=2.0, rss_mib=512.0),
        provenance=olive,
        weights=composition({"Q4_K": 900, "Q8_0": 80, "F32": 20}, 600, "Q4_K_M", ("Q4_K",)),
        traffic=TokenTraffic(1000, 200, 30, 3, 64, None, "OpenVINO chooses it", None, 400),
        lm=lm_facts(
            kl_statistics=summarize(per_token(variant, reference, rng.integers(0, 16, 40))),
            timed_tokens=TokenCheck(token_hash([3, 4, 5]), 3, 1, "near tie at position 1"),
            sustained=run_sustained(slows.round, 30.0, 3.0, slows.guards, lambda: slows.now),
        ),
    )


def test_every_nested_object_of_a_reply_round_trips_typed_and_exactly():
    """Each nested object comes back as its own type, and writes back the JSON it was read from, key for key."""
    info = _full()
    text = json.dumps(info.to_dict(), sort_keys=True)
    again = ChildInfo.from_dict(json.loads(text))
    assert again == info and json.dumps(again.to_dict(), sort_keys=True) == text
    lm = again.lm
    assert lm is not None and isinstance(lm.kl_statistics, KlStatistics) and isinstance(lm.sustained, Sustained)
    assert lm.sustained.drop_at_s == 12.0 and lm.sustained.intervals[-1].cpu_mhz is not None
    assert again.weights is not None and again.weights.requested_share == 0.9
    assert again.provenance is not None and again.provenance.passes == ("mb (ModelBuilder)",)
    data = json.loads(text)  # the keys the results files have always held, derived figures included
    assert data["sustained"]["drop_text"] == "dropped more than 10% below the start after 12 s"
    assert data["weights"]["types"] == {"Q4_K": 0.9, "Q8_0": 0.08, "F32": 0.02} and data["weights"]["bytes"] == 600
    assert data["timed_tokens"]["matched_by_scoring_path"] == 1 and set(data["guard_start"]) == {
        "cpu_mhz",
        "governor",
        "temperature_c",
        "on_ac_power",
    }
    assert data["eval_data"]["text"][0]["path"] == "/data/notes.txt" and "retrieval" not in data["eval_data"]
    assert "workflow" not in data["provenance"] and data["provenance"]["command"] == "olive x"
    built_in = replace(info, eval_data=EvalData(), huge_pages=HugePages(rss_mib=1.0), provenance=None)
    assert built_in.to_dict()["eval_data"] == {"source": BUILTIN} and built_in.to_dict()["huge_pages"] == {
        "rss_mib": 1.0
    }
    assert ChildInfo.from_dict(built_in.to_dict()) == built_in


def _set(path: str, value: Any) -> Any:
    """A change to a reply's JSON: `path` (dots and [i]) set to `value`, or removed where `value` is _GONE."""

    def change(data: dict[str, Any]) -> None:
        *parents, last = path.replace("[", ".").replace("]", "").split(".")
        node: Any = data
        for key in parents:
            node = node[int(key)] if isinstance(node, list) else node[key]
        if value is _GONE:
            del node[last]
        else:
            node[int(last) if isinstance(node, list) else last] = value

    return change


_GONE = object()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (_set("sustained.intervals[0].rounds", "many"), r"^info\.sustained\.intervals\[0\]\.rounds is 'many' \(str\), not int$"),
        (_set("sustained.window_s", _GONE), r"^info\.sustained has no 'window_s' key"),
        (_set("sustained.drop_text", 3), r"^info\.sustained\.drop_text is 3 \(int\), not str$"),
        (_set("kl_statistics.mean_kld.value", None), r"^info\.kl_statistics\.mean_kld\.value is None \(NoneType\), not float$"),
        (_set("kl_statistics.kld_percentiles.max", "high"), r"^info\.kl_statistics\.kld_percentiles\.max is 'high'"),
        (_set("timed_tokens.stopped", 3), r"^info\.timed_tokens\.stopped is 3 \(int\), not str$"),
        (_set("timed_tokens.checked", 3), r"^info\.timed_tokens\.checked is not a key this version knows"),
        (_set("guard_start.cpu_mhz", "fast"), r"^info\.guard_start\.cpu_mhz is 'fast' \(str\), not float$"),
        (_set("guard_end.fan_rpm", 900), r"^info\.guard_end\.fan_rpm is not a key this version knows"),
        (_set("guard_end", []), r"^info\.guard_end is \[\] \(list\), not an object"),
        (_set("huge_pages.rss_mib", "512"), r"^info\.huge_pages\.rss_mib is '512' \(str\), not float$"),
        (_set("runtime_settings.threads", 2), r"^info\.runtime_settings\.threads is 2 \(int\), not str$"),
        (_set("runtime_settings.kv_cache", {"type": "f16"}), r"^info\.runtime_settings\.kv_cache is \{'type': 'f16'\} \(dict\), not str$"),
        (_set("eval_data.prompts.size_bytes", 1.5), r"^info\.eval_data\.prompts\.size_bytes is 1\.5 \(float\), not int$"),
        (_set("eval_data.text[0].sha", "ab"), r"^info\.eval_data\.text\[0\]\.sha is not a key this version knows"),
        (_set("eval_data.labels", {}), r"^info\.eval_data\.labels is not a key this version knows"),
        (_set("eval_data", {"source": "my notes"}), r"^info\.eval_data\.source is 'my notes', not the built-in data"),
        (_set("provenance.passes[0]", 3), r"^info\.provenance\.passes\[0\] is 3 \(int\), not str$"),
        (_set("provenance.recipe", _GONE), r"^info\.provenance has no 'recipe' key"),
        (_set("weights.parameters.Q4_K", "900"), r"^info\.weights\.parameters\.Q4_K is '900' \(str\), not int$"),
        (_set("weights.bits_per_weight", "4.8"), r"^info\.weights\.bits_per_weight is '4\.8' \(str\), not float$"),
        (_set("weights.bytes", _GONE), r"^info\.weights has no 'bytes' key"),
        (_set("traffic.layers", "30"), r"^info\.traffic\.layers is '30' \(str\), not int$"),
    ],
)  # fmt: skip
def test_a_wrong_value_inside_a_nested_object_is_one_line_naming_its_path(change, message):
    data = json.loads(json.dumps(_full().to_dict()))
    ChildInfo.from_dict(data)  # as written, it fits
    change(data)
    with pytest.raises(ReplyError, match=message) as raised:
        ChildInfo.from_dict(data)
    assert "\n" not in str(raised.value)


def test_a_reply_written_before_a_nested_key_existed_reads_it_as_none():
    """Traffic counted before f32 tensors were counted apart; guards a planted child never read (`{}`)."""
    data = json.loads(json.dumps(_full().to_dict()))
    del data["traffic"]["f32_weight_bytes"]
    data["guard_start"] = {}
    info = ChildInfo.from_dict(data)
    assert info.traffic is not None and info.traffic.f32_weight_bytes is None and info.guard_start == GuardReading()


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


@pytest.mark.parametrize("version", [2, 3])
def test_results_of_schema_2_and_3_read_their_replies_and_pairs_typed(tmp_path, version):
    """A version 2 or 3 file (the variant called quant, no log tail; version 2: no per-case settings) whose
    replies carry the nested objects: each reads as its type, the pairs' guards included."""
    from run_documents import case, run

    info = _full().to_dict()
    document = run([case("q4_0", 50.0, pair_ratio=1.5)])
    document["schema_version"] = version
    for c in document["cases"]:
        c["quant"] = c.pop("variant")
        c.pop("log_tail", None)
        c["info"] = info
        if version == 2:
            c.pop("settings", None)
            c.pop("baseline_policy", None)
    path = tmp_path / "old.json"
    path.write_text(json.dumps(document))
    ((read,),) = [r.cases for r in load_runs(path)]
    assert read.measurement is not None and read.measurement.info.to_dict() == info  # typed, and exactly as stored
    lm = read.measurement.info.lm
    assert lm is not None and isinstance(lm.sustained, Sustained) and isinstance(lm.kl_statistics, KlStatistics)
    (pair,) = read.pairs
    assert pair.guard_start == GuardReading() and isinstance(pair.guard_end, GuardReading)


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
