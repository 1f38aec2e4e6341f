from pathlib import Path

import pytest

from benchharness.config import load_settings, parse_assignment, parse_settings
from benchharness.errors import ConfigError


def test_defaults_without_any_config(tmp_path):
    settings = load_settings(tmp_path)
    assert settings.workload.gen_tokens == 64
    assert settings.results_dir == tmp_path / "reports"
    assert settings.suites == {}
    suite = parse_settings({"suites": {"s": {}}}, tmp_path).suites["s"]
    assert [(g.name, g.minimum) for g in suite.gates] == [
        ("accuracy_retained", 0.95),
        ("speedup", 2.0),
        ("memory_reduction", 0.5),
    ]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        ({"workload": {"gen_token": 3}}, "unknown key 'gen_token'; valid keys: gen_tokens"),
        ({"workload": {"gen_tokens": 0}}, "gen_tokens = 0 is out of range"),
        ({"workload": {"gen_tokens": "many"}}, "must be int"),
        ({"threads": True}, "must be int"),
        ({"suites": {"s": {"gates": {"speedp": {"min": 2}}}}}, "unknown gate 'speedp'; valid gates"),
        ({"suites": {"s": {"gates": {"accuracy_retained": {"min": 1.5}}}}}, "out of range"),
        ({"models": {"m": {"variants": {"a": {"path": "x", "quantize": "Q4_0"}}}}}, "exactly one of"),
        ({"baseline": {"noise_k": -1.0}}, "noise_k = -1.0 is out of range"),
        ({"suites": {"s": {"gates": {"speedup": {"known_breaches": ["a"], "borderline": ["a"]}}}}}, "pick one"),
    ],
)
def test_bad_settings_name_key_value_and_fix(data, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(")):
        parse_settings(data, Path("/tmp"))


def test_gate_can_be_switched_off_and_scoped():
    settings = parse_settings(
        {"suites": {"s": {"gates": {"speedup": False, "memory_reduction": {"min": 0.4, "quants": ["q4_0"]}}}}},
        Path("/tmp"),
    )
    gates = {g.name: g for g in settings.suites["s"].gates}
    assert "speedup" not in gates
    assert gates["memory_reduction"].minimum == 0.4 and gates["memory_reduction"].quants == ("q4_0",)


def test_assignments_parse_as_toml_values():
    assert parse_assignment("workload.gen_tokens=16") == {"workload": {"gen_tokens": 16}}
    assert parse_assignment("results_dir=/tmp/r") == {"results_dir": "/tmp/r"}
    with pytest.raises(ConfigError, match=r"section.key=value"):
        parse_assignment("nonsense")


def test_pyproject_then_extra_file_then_assignments(tmp_path):
    (tmp_path / "pyproject.toml").write_text("[tool.benchharness.workload]\ngen_tokens = 10\nprompt_tokens = 20\n")
    extra = tmp_path / "extra.toml"
    extra.write_text("[workload]\ngen_tokens = 11\n")
    settings = load_settings(tmp_path, extra, ("workload.prompt_tokens=30",))
    assert (settings.workload.gen_tokens, settings.workload.prompt_tokens) == (11, 30)


def test_malformed_toml_is_one_line_error(tmp_path):
    (tmp_path / "pyproject.toml").write_text("[tool.benchharness\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_settings(tmp_path)
