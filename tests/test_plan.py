"""The plan of each case: the suite's policy resolved once, command-line thresholds applied."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fake_child import FakeChild, registered_fake, toy_session

from benchharness.errors import ConfigError


@pytest.fixture(autouse=True)
def fake_backend() -> Iterator[None]:
    yield from registered_fake()


KNOWN = """
[tool.benchharness.suites.toy.gates]
accuracy_retained = false
speedup = { min = 2.0, known_breaches = ["slow@cpu"] }
memory_reduction = false
[tool.benchharness.suites.toy.limits]
load_ms = 5000
"""


def test_a_plan_holds_the_suites_policy_with_command_line_thresholds(tmp_path):
    session = toy_session(tmp_path, ["ref", "fast", "slow"], FakeChild({}), KNOWN, gate_overrides={"speedup": 2.5})
    reference, fast, slow = session.cases("toy")
    plan = session.planner.plan(slow)
    assert [(g.name, g.minimum) for g in plan.gates] == [("speedup", 2.5)]
    assert plan.known_breaches == ("speedup",) and session.planner.plan(fast).known_breaches == ()
    assert plan.limits == {"load_ms": 5000.0}
    assert plan.workload.prompt_tokens == 8 and plan.accuracy.n_ctx == 64
    assert plan.workload_key["prompt_tokens"] == 8
    assert plan.reference().case == session.planner.plan(reference).case
    assert session.planner.plan(slow) is plan  # resolved once


def test_a_typo_in_a_known_breach_is_refused_at_start_up(tmp_path):
    typo = KNOWN.replace("slow@cpu", "slwo@cpu")
    with pytest.raises(ConfigError, match=r"known_breaches: unknown value 'slwo'"):
        toy_session(tmp_path, ["ref", "slow"], FakeChild({}), typo)


def test_a_gate_override_no_suite_judges_is_refused(tmp_path):
    """A newcomer's finding: `--gate speedup=2` on a suite with `speedup = false` passed with no word."""
    off = "[tool.benchharness.suites.toy.gates]\nspeedup = false\nmemory_reduction = false\n"
    with pytest.raises(ConfigError, match=r"^--gate speedup=2 has no effect: no suite judges speedup \(suites: toy\)"):
        toy_session(tmp_path, ["ref", "fast"], FakeChild({}), off, gate_overrides={"speedup": 2.0})
    toy_session(tmp_path, ["ref", "fast"], FakeChild({}), KNOWN, gate_overrides={"speedup": 2.0})  # judged: fine


def test_a_variant_no_model_has_lists_the_suites_own_first_then_the_rest(tmp_path):
    from benchharness.cli_options import Filters

    with pytest.raises(ConfigError) as refused:
        toy_session(tmp_path, ["ref", "fast"], FakeChild({}), filters=Filters(variants=("zzz",)))
    message = str(refused.value)
    assert message.startswith("--variant: unknown value 'zzz'; valid: ref, fast (suite toy); "), message
    assert message.endswith(" are variants of other models") and "q4_0" in message and "int8" in message
    with pytest.raises(ConfigError, match=r"^--model: unknown value 'gpt'; valid: toy \(suite toy\); .*digits-mlp"):
        toy_session(tmp_path, ["ref"], FakeChild({}), filters=Filters(models=("gpt",)))
