"""The command line's share of the settings (cli_options.py): durations, gate thresholds, filters."""

import pytest

from benchharness.cli_options import given_once, parse_duration, parse_gate_overrides, parse_list
from benchharness.errors import ConfigError


def test_command_line_values():
    assert parse_duration("--time-budget", "30m") == 1800 and parse_duration("--time-budget", "90s") == 90
    assert parse_duration("--time-budget", None) is None
    with pytest.raises(ConfigError, match=r"--time-budget='10' has no unit; write 10s, 10m or 10h"):
        parse_duration("--time-budget", "10")
    for bad in ("soon", "-5m", "0"):
        with pytest.raises(ConfigError, match=r"is not a duration; write e.g. 30m"):
            parse_duration("--time-budget", bad)
    assert parse_gate_overrides(["speedup=1.5"]) == {"speedup": 1.5}
    with pytest.raises(ConfigError, match="--gate speedup = nan is out of range"):
        parse_gate_overrides(["speedup=nan"])
    for twice in (["speedup=2", "speedup=3"], ["speedup=2,speedup=3"]):
        with pytest.raises(ConfigError, match=r"--gate speedup is given twice \(2 and 3\); give each gate once"):
            parse_gate_overrides(twice)
    assert parse_gate_overrides(["speedup=2", "memory_reduction=0.4"]) == {"speedup": 2.0, "memory_reduction": 0.4}


def test_a_filter_that_names_nothing_is_refused():
    assert parse_list("--variant", "Q4_0, f32") == ("q4_0", "f32")
    assert parse_list("--variant", None) is None
    with pytest.raises(ConfigError, match=r"--variant=' , ' names nothing; give a comma-separated list"):
        parse_list("--variant", " , ")


def test_an_option_given_twice_keeps_the_last_with_a_note_and_both_names_are_refused():
    assert given_once("--variant", [], listed=True) == (None, None)
    assert given_once("--variant", [("--quant", "int8")], listed=True) == ("int8", None)  # the old name alone is read
    # As pytest reads options (addopts, then the command line): the last counts, and the note says so.
    value, note = given_once("--variant", [("--variant", "int8"), ("--variant", "fp32")], listed=True)
    assert value == "fp32"
    assert note == (
        "--variant given 2 times (--variant=int8 and --variant=fp32): the last, fp32, counts, as pytest reads "
        "options; to run several, give one comma list, e.g. --variant=int8,fp32"
    )
    value, note = given_once("--report", [("--report", "a.html"), ("--report", "b.html")], listed=False)
    assert value == "b.html" and note is not None and note.endswith("the last, b.html, counts, as pytest reads options")
    with pytest.raises(
        ConfigError,
        match=r"^--variant=fp32 and --quant=int8: --variant is given under two names \(--quant is its old name\); "
        r"give one comma list, e\.g\. --variant=fp32,int8$",
    ):
        given_once("--variant", [("--variant", "fp32"), ("--quant", "int8")], listed=True)
