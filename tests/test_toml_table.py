"""The generic strict TOML reader (toml_table.py): every key taken or refused, with the valid ones named."""

import pytest

from benchharness.errors import ConfigError
from benchharness.toml_table import Table, deep_merge, in_range, name_list, parse_assignment, parse_size


def test_a_table_hands_out_typed_values_and_refuses_leftover_keys():
    t = Table({"n": 3, "x": 2, "name": "a", "typo": 1}, "[t]")
    assert t.take("n", int) == 3 and t.take("x", float) == 2.0 and t.take("missing", int, 7) == 7
    assert t.take("name", str) == "a"
    with pytest.raises(ConfigError, match=r"^\[t\]: unknown key 'typo'; valid keys: missing, n, name, x$"):
        t.finish()


def test_a_wrong_type_names_the_key_the_value_and_the_fix():
    with pytest.raises(ConfigError, match=r"^\[t\]\.n = True must be int; fix it in your config$"):
        Table({"n": True}, "[t]").take("n", int)  # a bool is no int here, though Python says it is
    with pytest.raises(ConfigError, match=r"^\[t\] must be a table, got list \[1\]$"):
        Table([1], "[t]")


def test_ranges_lists_sizes_and_merges():
    in_range("w", 0.5, 0.0, 1.0)
    with pytest.raises(ConfigError, match=r"w = nan is out of range; it must be in 0.0..1.0"):
        in_range("w", float("nan"), 0.0, 1.0)
    assert name_list(Table({"k": ["a"]}, "[t]"), "k") == ("a",)
    with pytest.raises(ConfigError, match=r"\[t\]\.k = \[\] names nothing; leave the key out to mean all"):
        name_list(Table({"k": []}, "[t]"), "k")
    assert name_list(Table({"k": []}, "[t]"), "k", empty_ok=True) == ()
    assert parse_size("m", "1.5 GB") == 1.5e9 and parse_size("m", "2 GiB") == 2 * 2**30
    assert deep_merge({"a": {"b": 1, "c": 2}}, {"a": {"c": 3}}) == {"a": {"b": 1, "c": 3}}
    assert parse_assignment("workload.gen_tokens=16") == {"workload": {"gen_tokens": 16}}
