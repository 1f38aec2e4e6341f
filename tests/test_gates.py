"""The gates are objects in one registry: each says what it judges and how, and nothing else spells a gate's name.

A gate used to be a name plus parallel dicts and string comparisons in 13 files; these tests hold the
registry's contents, each gate's properties (the facts the dicts held, unchanged), that a new gate is one
class and one registration that config, `--gate`, the judge and the terminal table all pick up, and that no
module outside benchharness/gates/ spells a gate's name as a string.
"""

from __future__ import annotations

import ast
import dataclasses
from dataclasses import dataclass
from pathlib import Path

import pytest
from child_facts import child_info

from benchharness import gates, judge, kinds
from benchharness.cli_options import parse_gate_overrides
from benchharness.config import parse_settings
from benchharness.errors import ConfigError
from benchharness.gates import GateEvidence, GateRule, Reduction
from benchharness.kinds.base import ModelKind
from benchharness.matrix import Case
from benchharness.readings import Measurement, Reading
from benchharness.records import CaseRecord
from benchharness.report import terminal
from conftest import NO_SPEED_OR_MEMORY, cases_by

PACKAGE = Path(gates.__file__).resolve().parents[1]  # benchharness/
LM = kinds.kind("causal-lm")
ENCODER = kinds.kind("encoder")

# name, default minimum, upper bound, on by default, confirmable by a re-run, judged from timed pairs, unit
BUILT_IN = [
    ("accuracy_retained", 0.95, 1.0, True, False, False, "fraction"),
    ("speedup", 2.0, 1000.0, True, True, True, "x"),
    ("memory_reduction", 0.5, 1.0, True, True, False, "fraction"),
    ("energy_reduction", 0.5, 1.0, False, True, False, "fraction"),
]


@pytest.fixture
def registry():
    """The registry as it was, restored after the test: a gate a test registers must not leak into others."""
    saved = dict(gates.REGISTRY)
    yield gates.REGISTRY
    gates.REGISTRY.clear()
    gates.REGISTRY.update(saved)


def test_the_registry_holds_the_four_gates_in_judging_order():
    assert gates.names() == tuple(row[0] for row in BUILT_IN)
    assert [type(g).__name__ for g in gates.all_gates()] == [
        "AccuracyRetained",
        "Speedup",
        "MemoryReduction",
        "EnergyReduction",
    ]
    assert gates.gate_named("speedup") is gates.SPEEDUP
    assert gates.find_gate("speedp") is None
    # reports show speed first, as a reader scans for it
    assert [g.name for g in gates.in_display_order()] == [
        "speedup",
        "accuracy_retained",
        "memory_reduction",
        "energy_reduction",
    ]


@pytest.mark.parametrize(("name", "minimum", "bound", "default", "confirmable", "paired", "unit"), BUILT_IN)
def test_each_gate_states_its_own_policy(name, minimum, bound, default, confirmable, paired, unit):
    gate = gates.gate_named(name)
    assert (gate.name, gate.default_minimum, gate.upper_bound) == (name, minimum, bound)
    assert (gate.on_by_default, gate.confirmable, gate.paired, gate.unit) == (default, confirmable, paired, unit)
    assert gate.description and "\n" not in gate.description
    with pytest.raises(dataclasses.FrozenInstanceError):
        gate.note = "changed"  # type: ignore[attr-defined]


def test_default_rules_are_the_gates_on_by_default_at_their_default_minimums():
    assert [(r.name, r.minimum) for r in gates.default_rules()] == [
        ("accuracy_retained", 0.95),
        ("speedup", 2.0),
        ("memory_reduction", 0.5),
    ]
    assert parse_settings({"suites": {"s": {}}}, Path(".")).suites["s"].gates == gates.default_rules()


@pytest.mark.parametrize(
    ("name", "lm", "encoder"),
    [
        ("accuracy_retained", "top1_accuracy", "retrieval_top1"),
        ("speedup", "decode_tok_per_s", "batch32_items_per_s"),
        ("memory_reduction", "model_memory_bytes", "model_memory_bytes"),
        ("energy_reduction", "energy_per_token_j", "energy_per_item_j"),
    ],
)
def test_each_gate_judges_its_figure_per_model_kind(name, lm, encoder):
    gate = gates.gate_named(name)
    assert (gate.figure(LM), gate.figure(ENCODER)) == (lm, encoder)


def test_the_memory_gate_judges_the_suites_figure_else_where_the_model_lives():
    memory = gates.MEMORY_REDUCTION
    plain = GateEvidence("q4", "f32", LM, [], [])
    assert memory.judged_figure(GateRule("memory_reduction", 0.5), plain) == "model_memory_bytes"
    on_gpu = dataclasses.replace(plain, device="cuda:0")
    assert memory.judged_figure(GateRule("memory_reduction", 0.5), on_gpu) == "gpu_model_memory_bytes"
    declared = GateRule("memory_reduction", 0.5, metric=memory.figures["process"])
    assert memory.judged_figure(declared, on_gpu) == "peak_rss_bytes"
    assert dict(memory.figures) == {"model": None, "process": "peak_rss_bytes", "gpu": "gpu_memory_bytes"}
    assert not gates.SPEEDUP.figures and not gates.ENERGY_REDUCTION.figures


def test_a_reduction_is_compared_on_how_many_times_smaller_a_ratio_as_it_is():
    assert gates.MEMORY_REDUCTION.times_better(0.75) == pytest.approx(4.0)
    assert gates.ENERGY_REDUCTION.times_better(0.5) == pytest.approx(2.0)
    assert gates.SPEEDUP.times_better(2.5) == 2.5
    assert gates.ACCURACY_RETAINED.times_better(0.97) == 0.97


def test_an_unknown_or_twice_registered_gate_is_a_one_line_error(registry):
    with pytest.raises(ConfigError, match=r"^unknown gate 'speedp'; valid gates: accuracy_retained, energy_reduction"):
        gates.gate_named("speedp")
    with pytest.raises(ConfigError, match=r"^gate 'speedup' is registered twice \(Speedup and Speedup\)"):
        gates.register(type(gates.SPEEDUP)())


# -- a new gate: one class and one registration -------------------------------------------------------------


@dataclass(frozen=True)
class FileReduction(Reduction):
    """The weights file's cut against the reference's: a figure every kind reads, so one figure for all."""

    name = "file_reduction"
    description = "the share of the reference's weights file the variant saves"
    default_minimum = 0.6
    upper_bound = 1.0
    on_by_default = True
    confirmable = False  # a file's size does not move on a re-run
    column = "file cut"
    axis_label = "weights file cut"
    display_rank = 5

    def figure(self, kind: ModelKind) -> str:
        return "weights_file_bytes"

    def describe(self, metric: str, variant_mean: float, reference_mean: float, e: GateEvidence) -> str:
        return f"; weights {variant_mean:.0f} B vs reference {e.reference_label} {reference_mean:.0f} B"


def with_file(size: float | None) -> Measurement:
    reading = (
        Reading("weights_file_bytes", "B", size)
        if size is not None
        else Reading("weights_file_bytes", "B", None, unavailable_reason="no weights file found")
    )
    return Measurement("case", {"weights_file_bytes": reading}, child_info())


def test_a_new_gate_is_one_class_and_one_registration(registry):
    gates.register(FileReduction())

    # config: its TOML key and `--gate` are its name, its bounds and default minimum are its own
    assert ("file_reduction", 0.6) in [(r.name, r.minimum) for r in gates.default_rules()]
    suite = parse_settings({"suites": {"s": {"gates": {"file_reduction": {"min": 0.7}}}}}, Path(".")).suites["s"]
    assert ("file_reduction", 0.7) in [(r.name, r.minimum) for r in suite.gates]
    assert parse_gate_overrides(["file_reduction=0.8"]) == {"file_reduction": 0.8}
    with pytest.raises(ConfigError, match=r"gates\.file_reduction\.min = 1\.5 is out of range"):
        parse_settings({"suites": {"s": {"gates": {"file_reduction": {"min": 1.5}}}}}, Path("."))
    with pytest.raises(ConfigError, match=r"gates\.file_reduction: unknown key 'figure'"):
        parse_settings({"suites": {"s": {"gates": {"file_reduction": {"figure": "model"}}}}}, Path("."))

    # the judge: its estimator, its interval and the shared wording
    rule = GateRule("file_reduction", 0.6)
    (passed,) = judge.judge_gates([rule], GateEvidence("q4", "f32", LM, [with_file(250.0)], [with_file(1000.0)]), 0.95)
    assert (passed.status, passed.estimate) == ("pass", pytest.approx(0.75))
    assert passed.message.startswith("file reduction 75% [75%, 75%] (min 60%, 1 child): pass; weights 250 B")
    (failed,) = judge.judge_gates([rule], GateEvidence("q4", "f32", LM, [with_file(500.0)], [with_file(1000.0)]), 0.95)
    assert failed.status == "fail"
    (missing,) = judge.judge_gates([rule], GateEvidence("q4", "f32", LM, [with_file(None)], [with_file(1e3)]), 0.95)
    assert missing.status == "unavailable" and "no weights file found" in missing.message

    # the terminal table: a column of its own, after the built-in ones (display_rank)
    headers = [header for header, _ in terminal.verdict_columns()]
    assert headers == ["speedup", "acc kept", "mem cut", "file cut", "baseline", "outcome"]
    record = CaseRecord(Case("s", "m", "q4", "onnxruntime", "cpu", "fp32", format="onnx", kind="encoder"))
    record.verdicts.append(passed)
    cell = dict(terminal.verdict_columns())["file cut"]
    assert cell(record).startswith("75% ")


def test_without_the_registration_the_gate_does_not_exist():
    with pytest.raises(ConfigError, match=r"unknown gate 'file_reduction'"):
        parse_settings({"suites": {"s": {"gates": {"file_reduction": {"min": 0.7}}}}}, Path("."))
    with pytest.raises(ConfigError, match=r"--gate 'file_reduction=0\.8': expected NAME=MIN"):
        parse_gate_overrides(["file_reduction=0.8"])


# -- no gate name spelt as a string outside benchharness/gates/ ---------------------------------------------


def gate_name_literals(source: str, names: tuple[str, ...]) -> list[int]:
    """Lines where `source` spells a gate's name (or its history figure, `gate:NAME`) as a string constant.

    A comparison `v.name == "speedup"`, a membership test in a tuple of names, a dict keyed by one or a
    lookup `gate_metrics["speedup"]` all hold such a constant; the gate objects are to be asked instead.
    """
    spelt = {*names, *(f"gate:{n}" for n in names)}
    return sorted(
        node.lineno
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value in spelt
    )


def test_the_scan_finds_a_gate_name_compared_looked_up_or_listed():
    names = gates.names()
    planted = (
        'if v.name == "speedup":\n'
        "    pass\n"
        'ok = v.name in ("memory_reduction", "energy_reduction")\n'
        'figure = kind.gate_metrics["accuracy_retained"]\n'
        'unit = "x" if name == "gate:speedup" else "fraction"\n'
        'text = f"speedup {x}"  # words in a message are not a name\n'
    )
    assert gate_name_literals(planted, names) == [1, 3, 3, 4, 5]


def test_no_module_outside_gates_spells_a_gate_name():
    names = gates.names()
    found = {
        str(path.relative_to(PACKAGE.parent)): lines
        for path in sorted(PACKAGE.rglob("*.py"))
        if "gates" not in path.relative_to(PACKAGE).parts[:1]
        and (lines := gate_name_literals(path.read_text(encoding="utf-8"), names))
    }
    assert found == {}, f"gate names spelt as strings (ask benchharness.gates instead): {found}"
    assert len(list(PACKAGE.rglob("*.py"))) > 50  # the scan read the package, not an empty folder


# -- from outside: a project registers a gate in its conftest.py, and a real session judges it -------------------

FILE_GATE = """
from dataclasses import dataclass

from benchharness.gates import Reduction, register


@dataclass(frozen=True)
class FileReduction(Reduction):
    name = "file_reduction"
    description = "the share of the reference's weights file the variant saves"
    default_minimum = 0.5
    upper_bound = 1.0
    on_by_default = False
    confirmable = True  # to see the session ask: a re-run of a file's size is pointless, but it is possible
    column = "file cut"
    axis_label = "weights file cut"

    def figure(self, kind):
        return "weights_file_bytes"

    def describe(self, metric, variant_mean, reference_mean, e):
        return f"; weights {variant_mean:.0f} B vs reference {e.reference_label} {reference_mean:.0f} B"


register(FileReduction())
"""


@pytest.mark.slow
def test_a_gate_a_project_registers_is_configured_judged_shown_and_recorded(toy_project, pytester):
    """The toy models are a 24-byte header and their mode's name: `ok` (26 B) is 3.7% under `ref` (27 B), `fast`
    (28 B) 3.7% over. Declared confirmable, so the session re-measures the failure in fresh solo children (it is
    not a paired gate); the suite's table sets its minimum."""
    pytester.path.joinpath("filegate.py").write_text(FILE_GATE)
    conftest = pytester.path / "conftest.py"
    conftest.write_text(conftest.read_text() + "\nimport filegate  # registers the file_reduction gate\n")
    policy = NO_SPEED_OR_MEMORY + "accuracy_retained = false\nfile_reduction = { min = 0.03 }\n"
    result = toy_project(["ref", "ok", "fast"], policy=policy)
    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines(
        [
            "variant * mem cut  file cut * baseline  outcome",  # its column, from Gate.column
            "ok fake cpu * 3.7% ok *",
            "fast fake cpu * -3.7% FAIL *",
            "*file reduction -3.7% [[]-3.7%, -3.7%] (min 3.0%, 1 child): fail; weights 28 B vs reference ref 27 B*",
        ]
    )
    cases = cases_by(pytester.path, "variant")
    ok, fast = cases["ok"], cases["fast"]
    (passed,) = [v for v in ok["verdicts"] if v["check"] == "gate"]
    assert (passed["name"], passed["status"], passed["threshold"]) == ("file_reduction", "pass", 0.03)
    assert passed["estimate"] == pytest.approx(1 / 27)
    (failed,) = [v for v in fast["verdicts"] if v["check"] == "gate"]
    assert failed["status"] == "fail"
    assert failed["confirmation"].startswith("confirmed by re-run: file reduction -3.7%")
    assert "weights 28 B vs reference ref 27 B" in failed["message"]
