import json

import pytest
from child_facts import child_info

from benchharness import baseline_entry, baselines
from benchharness.errors import MachineMismatch, StoreError
from benchharness.readings import Measurement, Reading

MACHINE = {"id": "test-box", "cpu": "cpu", "logical_cores": 2, "memory_gib": 24, "system": "Linux", "arch": "x86_64"}
SETTINGS = {"gen_tokens": 64}


def meas(decode=100.0, sd=2.0, top1=0.5):
    return Measurement(
        "c",
        {
            "decode_tok_per_s": Reading("decode_tok_per_s", "tok/s", decode, sd, 5),
            "top1_accuracy": Reading("top1_accuracy", "fraction", top1, 0.0, 3000),
            "energy_j": Reading.unavailable("energy_j", "J", "no RAPL"),
        },
        child_info(),
    )


def test_save_load_roundtrip_merges_and_is_sorted(tmp_path):
    baselines.save(tmp_path, MACHINE, {"a": baselines.entry(meas(), SETTINGS, {}, {})})
    baselines.save(tmp_path, MACHINE, {"b": baselines.entry(meas(90), SETTINGS, {}, {})})
    path = tmp_path / "test-box.json"
    data = baselines.load(path)
    assert set(data["cases"]) == {"a", "b"}
    assert "energy_j" not in data["cases"]["a"]["metrics"]  # unavailable is not stored as a number
    assert path.read_text() == json.dumps(data, indent=2, sort_keys=True) + "\n"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_samples_and_ratios_are_stored_and_read_back(tmp_path):
    m = Measurement("c", meas().readings, child_info(), round_samples={"decode_tok_per_s": [99.0, 100.0, 101.0]})
    ratio = baseline_entry.StoredRatio(2.5, 2.4, 2.6, 12)
    baselines.save(tmp_path, MACHINE, {"a": baselines.entry(m, SETTINGS, {}, {"speedup": ratio})})
    stored = baseline_entry.BaselineEntry.from_dict(baselines.load(tmp_path / "test-box.json")["cases"]["a"])
    assert stored.metrics["decode_tok_per_s"].samples == (99.0, 100.0, 101.0)
    assert stored.ratios["speedup"] == ratio


def test_version_1_files_migrate(tmp_path):
    old = {"schema_version": 1, "machine": MACHINE, "cases": {"a": {"metrics": {"decode_tok_per_s": {"value": 1.0}}}}}
    (tmp_path / "test-box.json").write_text(json.dumps(old))
    data = baselines.load(tmp_path / "test-box.json")
    assert data["schema_version"] == 2 and data["cases"]["a"]["ratios"] == {}


@pytest.mark.parametrize(
    ("content", "message"),
    [
        ("{not json", "not valid JSON"),
        ('{"cases": {}}', "no integer schema_version"),
        ('{"schema_version": 99, "cases": {}, "machine": {}}', "newer than this benchharness reads"),
        ('{"schema_version": 1}', "lacks 'machine' or 'cases'"),
        ("\udcff", "not valid JSON"),
    ],
)
def test_malformed_files_give_one_line_errors(tmp_path, content, message):
    path = tmp_path / "test-box.json"
    path.write_text(content, errors="surrogateescape")
    with pytest.raises(StoreError, match=message):
        baselines.load(path)
    before = path.read_bytes()
    with pytest.raises(StoreError):
        baselines.save(tmp_path, MACHINE, {"x": baselines.entry(meas(), SETTINGS, {}, {})})
    assert path.read_bytes() == before  # a bad file is never overwritten


def test_other_machine_is_refused_unless_asked(tmp_path):
    baselines.save(tmp_path, {**MACHINE, "cpu": "other cpu"}, {"a": baselines.entry(meas(), SETTINGS, {}, {})})
    with pytest.raises(MachineMismatch, match=r"recorded on another machine.*--baseline-any-machine"):
        baselines.load_for_machine(tmp_path, MACHINE)
    assert baselines.load_for_machine(tmp_path, MACHINE, any_machine=True) is not None


def test_unwritable_folder(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(StoreError, match=r"make .* writable|cannot"):
        baselines.save(blocker / "sub", MACHINE, {"a": baselines.entry(meas(), SETTINGS, {}, {})})


def test_evidence_settings_are_split_from_the_ones_that_define_the_figure():
    settings = {
        "prompt_tokens": 128,
        "gen_tokens": 64,
        "depths": [0],
        "warmup_rounds": 1,
        "min_rounds": 5,
        "max_rounds": 50,
        "min_time_s": 3.0,
        "accuracy_n_ctx": 512,
        "accuracy_windows": 12,
    }
    defining = baseline_entry.defining_settings(settings)
    assert set(settings) - set(defining) == {"min_rounds", "max_rounds", "min_time_s"}
    assert defining == baseline_entry.defining_settings({**settings, "min_rounds": 20, "min_time_s": 0.5})
    assert defining != baseline_entry.defining_settings({**settings, "accuracy_windows": 2})


def test_the_outside_load_a_baseline_was_recorded_under_is_stored_and_read_back(tmp_path):
    recorded = {"date": "2025-01-01", "outside_cpu_load": 0.43, "max_outside_load": 0.2}
    baselines.save(tmp_path, MACHINE, {"a": baselines.entry(meas(), SETTINGS, recorded, {})})
    stored = baseline_entry.BaselineEntry.from_dict(baselines.load(tmp_path / "test-box.json")["cases"]["a"])
    assert stored.recorded["outside_cpu_load"] == 0.43
