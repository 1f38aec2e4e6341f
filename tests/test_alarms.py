"""One alarm per real change (issue 28 part 4): the grouping rules on hand-made change points, and the digest from outside."""

import json

import numpy as np
import pytest
from run_documents import case, reading, run

from benchharness.errors import StoreError
from benchharness.history.alarms import Move, across_machines, alarms, night_of, on_machine, sense
from benchharness.history.digest import digest, lines
from benchharness.history.recent import Recent, Series, read_recent
from benchharness.history.store import HistoryStore
from benchharness.machine import machine_class
from benchharness.results import RunResult
from conftest import run_cli

AVX2 = "Test CPU avx2 #a"
AVX512 = "Test CPU avx512f #b"
CASE = "llm::smollm2-135m-q4_0-llamacpp-cpu"


def move(figure: str, night: int, change: float, machine: str = "lab-a", cls: str = AVX2, case_key: str = CASE) -> Move:
    return Move(machine, cls, case_key, figure, f"2026-11-{night:02d}", change, 1e-6)


def slower(night: int, machine: str = "lab-a", cls: str = AVX2) -> list[Move]:
    """What a 15% slower decode moves on one night: throughput down, TPOT and a latency percentile up, the gate down."""
    return [
        move("decode_tok_per_s", night, -0.15, machine, cls),
        move("tpot_ms", night + 1, 0.176, machine, cls),  # the detector may place one figure a night later
        move("decode_latency_p90_ms", night, 0.18, machine, cls),
        move("gate:speedup", night, -0.15, machine, cls),
    ]


def test_figures_of_one_case_that_move_together_are_one_alarm_naming_each_move():
    (alarm,) = alarms(slower(9))
    assert alarm.figures == ("decode_latency_p90_ms", "decode_tok_per_s", "gate:speedup", "tpot_ms")
    assert alarm.change_of("tpot_ms") == pytest.approx(0.176) and alarm.change_of("gate:speedup") == -0.15
    assert alarm.direction == "worse" and alarm.nights == ("2026-11-09", "2026-11-10")
    assert alarm.machines == ("lab-a",) and alarm.size == pytest.approx(0.18)


def test_figures_that_move_on_different_nights_stay_separate_alarms():
    found = on_machine([move("decode_tok_per_s", 9, -0.15), move("peak_rss_bytes", 12, 0.2)])
    assert [a.figures for a in found] == [("decode_tok_per_s",), ("peak_rss_bytes",)]
    # the window counts from the group's first night, so a chain of nights two apart does not grow without end
    chain = on_machine([move("decode_tok_per_s", 1, -0.1), move("tpot_ms", 3, 0.1), move("ttft_ms", 5, 0.1)])
    assert [a.nights for a in chain] == [("2026-11-01", "2026-11-03"), ("2026-11-05", "2026-11-05")]
    assert len(on_machine(slower(9), window=0)) == 2  # same night only: TPOT's move a night later is its own


def test_other_cases_stay_separate_alarms():
    other = move("decode_tok_per_s", 9, -0.15, case_key="llm::smollm2-135m-q8_0-llamacpp-cpu")
    assert sorted(a.case_key for a in alarms([*slower(9), other])) == [CASE, other.case_key]


def test_the_same_change_on_machines_of_one_class_is_one_alarm_naming_the_machines():
    moves = slower(9, "lab-a") + slower(10, "lab-b") + slower(9, "lab-c")
    (alarm,) = alarms(moves)
    assert alarm.machines == ("lab-a", "lab-b", "lab-c") and alarm.machine_class == AVX2
    assert alarm.change_of("decode_tok_per_s") == -0.15 and len(alarm.moves) == 12


def test_two_machine_classes_stay_separate():
    found = alarms(slower(9, "lab-a", AVX2) + slower(9, "lab-b", AVX2) + slower(9, "lab-z", AVX512))
    assert sorted((a.machine_class, a.machines) for a in found) == [
        (AVX2, ("lab-a", "lab-b")),
        (AVX512, ("lab-z",)),
    ]


def test_a_move_the_other_way_or_weeks_apart_on_another_machine_is_another_alarm():
    faster = [move("decode_tok_per_s", 9, 0.12, "lab-b")]
    assert sorted(a.direction for a in alarms(slower(9, "lab-a") + faster)) == ["better", "worse"]
    later = slower(20, "lab-b")
    assert [a.machines for a in alarms(slower(9, "lab-a") + later)] == [("lab-b",), ("lab-a",)]  # newest first


def test_across_machines_keeps_a_single_machines_alarm_as_it_is():
    (alarm,) = on_machine(slower(9))
    assert across_machines([alarm]) == [alarm]
    with pytest.raises(ValueError, match="window=-1"):
        alarms(slower(9), window=-1)


def test_which_way_is_worse_comes_from_the_figure():
    assert sense("decode_tok_per_s", -0.1) == "worse" and sense("ttft_ms", -0.1) == "better"
    assert sense("decode_tok_per_s@d2048", 0.1) == "better" and sense("gate:speedup", -0.1) == "worse"
    assert sense("cpu_utilisation", 0.3) == "moved" and sense("no_such_figure", 0.3) == "moved"
    mixed = alarms([move("decode_tok_per_s", 9, -0.1), move("peak_rss_bytes", 9, -0.2)])
    assert [a.direction for a in mixed] == ["mixed"]


def test_a_night_runs_noon_to_noon_so_a_nightly_run_either_side_of_midnight_is_one_night():
    assert night_of("2026-11-09T23:50:00+00:00") == night_of("2026-11-10T00:10:00+00:00") == "2026-11-10"
    assert night_of("2026-11-10T02:00:00+00:00") == "2026-11-10" != night_of("2026-11-10T13:00:00+00:00")


def test_a_machine_class_is_cpu_model_and_isa_not_memory_or_cores():
    a = {"arch": "x86_64", "cpu": "AMD EPYC", "isa": ["avx2", "avx512f"], "gpus": [], "memory_gib": 24}
    assert machine_class(a) == machine_class({**a, "memory_gib": 64, "logical_cores": 8})
    assert machine_class(a) != machine_class({**a, "isa": ["avx2"]})
    assert machine_class(a).startswith("AMD EPYC avx512f #")
    assert machine_class({**a, "gpus": ["NVIDIA H100"]}) != machine_class(a)


def _series(machine: str, figure: str, values: list[float]) -> Series:
    started = tuple(f"2026-11-{n + 1:02d}T02:00:00+00:00" for n in range(len(values)))
    return Series(machine, CASE, figure, started, tuple(values))


def test_the_digest_groups_change_points_and_keeps_transients_out_of_the_alarms():
    rng = np.random.default_rng(0)
    level = [100 * (1 + 0.005 * z) for z in rng.standard_normal(14)]
    step = [v * (0.85 if i >= 8 else 1) for i, v in enumerate(level)]
    blip = [v * (0.85 if i == 5 else 1) for i, v in enumerate(level)]
    recent = Recent(
        {m: {"cpu": "Test CPU", "isa": ["avx2"]} for m in ("lab-a", "lab-b")},
        (
            _series("lab-a", "decode_tok_per_s", step),
            _series("lab-a", "tpot_ms", [10_000 / v for v in step]),
            _series("lab-b", "decode_tok_per_s", step),
            _series("lab-b", "ttft_ms", [10_000 / v for v in blip]),
            _series("lab-b", "peak_rss_bytes", [3e8] * 14),
            _series("lab-b", "load_ms", [5.0, 5.0]),
        ),
    )
    found = digest(recent, days=30)
    (alarm,) = found.alarms
    assert alarm.machines == ("lab-a", "lab-b") and alarm.figures == ("decode_tok_per_s", "tpot_ms")
    assert alarm.nights == ("2026-11-09", "2026-11-09") and found.change_points == 3
    (went,) = found.went_away
    assert went.figures == ("ttft_ms",) and went.nights == ("2026-11-06", "2026-11-06") and went.p_value is None
    assert found.series == 6 and found.too_short == 1
    assert digest(recent, days=3).alarms == ()  # the change is older than the last 3 nights: not tonight's news


LAB = {"lab-a": ("avx2",), "lab-b": ("avx2",), "lab-z": ("avx2", "avx512f")}


def nightly(machine: str, night: int, decode_q4: float, decode_q8: float) -> RunResult:
    """One night of one lab machine: two cases, each with decode tok/s, its p50 latency and a speedup gate ratio."""
    cases = []
    for quant, decode in (("q4_0", decode_q4), ("q8_0", decode_q8)):
        seed = night * 10 + sorted(LAB).index(machine) + (100 if quant == "q8_0" else 0)
        doc = case(quant, decode, seed=seed, gates={"speedup": ("passed", decode / 50, 0, 99)})
        doc["readings"]["decode_latency_p50_ms"] = reading("decode_latency_p50_ms", "ms", 1000 / doc["readings"]["decode_tok_per_s"]["value"])  # fmt: skip
        cases.append(doc)
    data = run(cases, machine, started=f"2026-11-{night + 1:02d}T02:{night:02d}:00+00:00")
    data["run"]["machine"]["isa"] = list(LAB[machine])
    return RunResult.from_dict(data, f"{machine}-{night}.json")


@pytest.mark.slow  # two CLI children over a 72-run history: ~6 s on the shared 2-core VM
def test_history_digest_lists_one_alarm_per_change_and_class_from_outside(tmp_path):
    """Three machines, two classes, twelve nights: q4_0 decodes 15% slower on all three from night 7 (three figures
    each); q8_0 has one slow night on lab-a (night 9) that comes back. Nine series moved: two alarms, one per class."""
    store = HistoryStore(f"sqlite:///{tmp_path / 'history.sqlite'}")
    for machine in LAB:
        for night in range(12):
            store.append(nightly(machine, night, 150 * (0.85 if night >= 6 else 1), 90 * (0.8 if (machine, night) == ("lab-a", 8) else 1)))  # fmt: skip
    store.close()
    done = run_cli(tmp_path, "history", "digest", "--history", str(tmp_path / "history.sqlite"), "--json")
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert report["change_points"] == 9 and report["series"] == 3 * 2 * 7  # 3 machines x 2 cases x 7 kept figures
    by_machines = {tuple(a["machines"]): a for a in report["alarms"]}
    assert set(by_machines) == {("lab-a", "lab-b"), ("lab-z",)}
    for alarm in by_machines.values():
        assert alarm["case"] == "llm::smollm2-135m-q4_0-llamacpp-cpu" and alarm["direction"] == "worse"
        assert set(alarm["figures"]) == {"decode_tok_per_s", "decode_latency_p50_ms", "gate:speedup"}
        assert alarm["figures"]["decode_tok_per_s"] == pytest.approx(-0.15, abs=0.02)
        assert alarm["first_night"] == "2026-11-07" and alarm["p_value"] < 1e-3
    assert by_machines[("lab-a", "lab-b")]["machine_class"] != by_machines[("lab-z",)]["machine_class"]
    assert {a["case"] for a in report["went_away"]} == {"llm::smollm2-135m-q8_0-llamacpp-cpu"}

    text = run_cli(tmp_path, "history", "digest", "--history", str(tmp_path / "history.sqlite"), "--json", "a.json")
    assert text.returncode == 0, text.stderr
    assert json.loads((tmp_path / "a.json").read_text()) == report  # CI's form: the lines printed, the JSON kept
    lines = text.stdout.splitlines()
    assert lines[0] == "alarms since 2026-11-05 (newest run 2026-11-12): 2"
    alarm_lines = [line for line in lines if line.startswith("2026-11-07")]
    assert len(alarm_lines) == 2 and all(
        " worse +17." in line and "decode_tok_per_s -15." in line for line in alarm_lines
    )
    assert any("on lab-a, lab-b (Test CPU avx2 #" in line for line in alarm_lines)
    assert "went away (a night or two off the level, then back; not alarms): 1" in text.stdout
    assert "9 change point(s) since 2026-11-05 -> 2 alarm(s)" in lines[-1]

    bad = run_cli(tmp_path, "history", "digest", "--history", str(tmp_path / "history.sqlite"), "--days", "-1")
    assert bad.returncode == 2 and bad.stderr.strip().splitlines() == [
        "benchharness history: --days -1: must not be negative; use 7 for the last week's alarms"
    ]


def test_an_empty_history_has_nothing_to_digest_and_no_runs_is_a_one_line_error(tmp_path):
    store = HistoryStore(f"sqlite:///{tmp_path / 'history.sqlite'}")
    assert lines(digest(read_recent(store))) == ["no runs in the history: nothing to digest"]
    with pytest.raises(StoreError, match=r"^--last 0: needs at least one run per machine; use e.g. --last 30$"):
        read_recent(store, last=0)
