"""Workload profiles: their settings, their sizing against a model's context, and their figures on a fake model.

The fake model is a real greedy LM in miniature (next token = a fixed function of the last one) with a clock
that advances by a set cost per token, so every figure below is computed from the clock, not invented.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import asdict
from pathlib import Path

import numpy as np
import numpy.typing as npt
import pytest
from child_facts import child_info, lm_facts

from benchharness.config import parse_settings
from benchharness.errors import ConfigError
from benchharness.kinds.causal_lm import CausalLM
from benchharness.kinds.lm_profiles import measure_profiles
from benchharness.meters.guards import GuardReading
from benchharness.profiles import chat_turns, context_needed, defining_workload, long_prompt, sweep_lengths
from benchharness.readings import metric_spec
from benchharness.settings import AccuracySettings, Workload


class Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class FakeLM:
    """Costs 1 ms a prompt token and 10 ms a decode step on `clock`; holds its sequence between calls."""

    n_vocab = 50

    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self.sequence: list[int] = []
        self.extended: list[int] = []  # each extend's depth (tokens already held)

    def tokenize(self, text: str) -> list[int]:
        return [ord(c) % self.n_vocab for c in text]

    def prefill(self, tokens: Sequence[int]) -> int:
        self.sequence = list(tokens)
        self.clock.now += 0.001 * len(tokens)
        return (self.sequence[-1] + 1) % self.n_vocab

    def fill(self, tokens: Sequence[int]) -> None:
        self.sequence = list(tokens)

    def extend(self, tokens: Sequence[int]) -> int:
        self.extended.append(len(self.sequence))
        self.sequence += list(tokens)
        self.clock.now += 0.001 * len(tokens)
        return (self.sequence[-1] + 1) % self.n_vocab

    def decode(self, token: int) -> int:
        self.sequence.append(token)
        self.clock.now += 0.010
        return (token + 1) % self.n_vocab

    def score(self, tokens: Sequence[int], first: int) -> npt.NDArray[np.float32]:
        return np.zeros((len(tokens) - 1 - first, self.n_vocab), dtype=np.float32)

    def close(self) -> None:
        pass


class PipelineLM:
    """A pipeline that times a whole generation itself and keeps nothing between calls (OpenVINO GenAI's shape)."""

    n_vocab = 50

    def tokenize(self, text: str) -> list[int]:
        return [1]

    def prefill(self, tokens: Sequence[int]) -> int:
        raise AssertionError("a self-timed pipeline is never stepped from outside")

    def decode(self, token: int) -> int:
        raise AssertionError("a self-timed pipeline is never stepped from outside")

    def score(self, tokens: Sequence[int], first: int) -> npt.NDArray[np.float32]:
        return np.zeros((1, 1), dtype=np.float32)

    def close(self) -> None:
        pass

    def timed_generation(
        self, prompt: Sequence[int], gen_tokens: int
    ) -> tuple[float, tuple[float, ...], tuple[int, ...]]:
        return 0.001 * len(prompt), (0.01,) * gen_tokens, (1,) * (gen_tokens + 1)


WORKLOAD = Workload(prompt_tokens=16, gen_tokens=4, warmup_rounds=0, min_rounds=2, max_rounds=2, min_time_s=0.0)


def settings(workload: dict[str, object]) -> Workload:
    return parse_settings({"workload": workload}, Path(".")).workload


def test_profiles_parse_and_bad_values_say_what_to_do() -> None:
    w = settings({"profiles": ["short", "long-prompt", "chat", "ttft-sweep"], "ttft_sweep": [32, 64]})
    assert w.profiles == ("short", "long-prompt", "chat", "ttft-sweep") and w.ttft_sweep == (32, 64)
    with pytest.raises(ConfigError, match=r"names 'long', not a workload profile; valid: short, long-prompt"):
        settings({"profiles": ["short", "long"]})
    with pytest.raises(ConfigError, match=r"starts with 'chat'; .* must be 'short' .* list 'short' first"):
        settings({"profiles": ["chat", "short"]})
    with pytest.raises(ConfigError, match="lists a profile twice"):
        settings({"profiles": ["short", "chat", "chat"]})
    with pytest.raises(ConfigError, match=r"ttft_sweep = \[64, 64\] lists a length twice"):
        settings({"ttft_sweep": [64, 64]})
    with pytest.raises(ConfigError, match=r"sustained_interval_s = 30.0 must be in 0.1..15: the first 15 s"):
        settings({"sustained_s": 60, "sustained_interval_s": 30})
    with pytest.raises(ConfigError, match=r"chat_turns = 1 is out of range; it must be in 2..100"):
        settings({"chat_turns": 1})


def test_only_listed_profiles_define_the_measurement() -> None:
    plain = defining_workload(asdict(Workload()))
    assert "profiles" not in plain and "long_prompt_tokens" not in plain and "sustained_s" not in plain
    assert plain["prompt_tokens"] == 128  # what was there before profiles existed is kept
    listed = defining_workload(asdict(Workload(profiles=("short", "sustained"))))
    assert listed["profiles"] == ("short", "sustained") and listed["sustained_s"] == 300.0
    assert "chat_turns" not in listed


def test_profiles_are_sized_to_the_models_context() -> None:
    w = Workload(long_prompt_tokens=2048, long_gen_tokens=128, chat_turns=4, chat_turn_tokens=64, gen_tokens=64)
    assert long_prompt(w, 8192, 10_000).prompt_tokens == 2048 and long_prompt(w, 8192, 10_000).capped is None
    capped = long_prompt(w, 1024, 10_000)
    assert capped.prompt_tokens == 1024 - 128 - 1
    assert capped.capped == (
        "capped at 895 tokens (long_prompt_tokens = 2048) by the model's 1024-token context less 128 generated "
        "and 1 spare"
    )
    assert (
        long_prompt(w, None, 1500).capped
        == "capped at 1500 tokens (long_prompt_tokens = 2048) by the accuracy corpus's 1500 tokens"
    )
    assert long_prompt(w, 100, 10_000).unavailable
    assert sweep_lengths(Workload(ttft_sweep=(64, 256, 1024)), 512) == (
        (64, 256),
        {1024: "a 1024-token prompt exceeds the model's 512-token context"},
    )
    fit, left = chat_turns(w, 300)  # 129 tokens a turn
    assert fit == 2 and set(left) == {3, 4} and "past the model's 300-token context" in left[3]
    assert context_needed(Workload(profiles=("short", "long-prompt", "chat"))) == 2048 + 128 + 1
    options = CausalLM().load_options(
        2, Workload(profiles=("short", "long-prompt")), parse_settings({}, Path(".")).accuracy, 1024
    )
    assert options.n_ctx == 1024  # asked for 2,177, held to the model's context
    # A prompt and generation longer than the accuracy window: the timed-token check scores all of them in one call
    # (before: n_batch 128, "score() takes at most n_batch=128 tokens, got 193", the run's measurement unusable).
    short_window = AccuracySettings(n_ctx=64, windows=1)
    options = CausalLM().load_options(2, Workload(prompt_tokens=128, gen_tokens=64), short_window)
    assert options.n_batch == 193
    options = CausalLM().load_options(2, Workload(prompt_tokens=128, gen_tokens=64, depths=(256, 512)), short_window)
    assert options.n_batch == 256 + 193 and options.n_ctx == 512 + 193
    assert CausalLM().load_options(2, Workload(), parse_settings({}, Path(".")).accuracy).n_batch == 512  # unchanged


def test_profile_figures_carry_their_suffix_and_come_from_the_clock() -> None:
    clock = Clock()
    model = FakeLM(clock)
    corpus = np.arange(5000) % 50
    w = Workload(
        prompt_tokens=16,
        gen_tokens=4,
        warmup_rounds=0,
        min_rounds=2,
        max_rounds=2,
        min_time_s=0.0,
        profiles=("short", "long-prompt", "chat", "ttft-sweep"),
        long_prompt_tokens=1000,
        long_gen_tokens=8,
        chat_turns=3,
        chat_turn_tokens=20,
        ttft_sweep=(10, 100),
    )
    found = measure_profiles(model, w, corpus, list(corpus[:16]), context=None, clock=clock)
    r = {x.name: x for x in found.readings}
    assert r["ttft_ms@long-prompt"].value == pytest.approx(1000.0)  # 1,000 prompt tokens at 1 ms
    assert r["decode_tok_per_s@long-prompt"].value == pytest.approx(100.0)  # 10 ms a step
    assert r["ttft_ms@chat-t1"].value == pytest.approx(20.0)
    assert r["ttft_ms@chat-t2"].value == pytest.approx(20.0)  # 20 new tokens, at the cache's depth
    assert r["decode_tok_per_s@chat-t3"].value == pytest.approx(100.0)
    assert model.extended[-2:] == [24, 48]  # each turn extends the cache the conversation built
    assert r["ttft_ms@pp100"].value == pytest.approx(100.0) and r["ttft_ms@pp10"].value == pytest.approx(10.0)
    assert all(metric_spec(name) is not None for name in r)
    assert found.labels["chat"].startswith("3 turns, KV cache kept: turn 1: pp20 @ d0, tg4 @ d20; turn 2: pp20 @ d24")
    assert found.samples["ttft_ms@chat-t2"] == pytest.approx([20.0, 20.0])


def test_a_pipeline_without_a_kept_cache_reports_chat_unavailable_with_the_reason() -> None:
    w = Workload(
        prompt_tokens=16, gen_tokens=4, warmup_rounds=0, min_rounds=1, max_rounds=1, min_time_s=0.0,
        profiles=("short", "chat", "long-prompt"), chat_turns=2, long_prompt_tokens=64,
    )  # fmt: skip
    found = measure_profiles(PipelineLM(), w, np.arange(200) % 50, [1] * 16, context=None)
    r = {x.name: x for x in found.readings}
    assert r["ttft_ms@chat-t1"].value is None and r["ttft_ms@chat-t2"].value is None
    assert (r["ttft_ms@chat-t2"].unavailable_reason or "").startswith(
        "PipelineLM is driven here only through whole generations (a self-timed pipeline), so its KV cache is not "
        "kept between calls: a chat turn would be a fresh prompt"
    )
    assert r["ttft_ms@long-prompt"].value == pytest.approx(64.0)  # a long prompt it can do, on its own clock


def test_the_terminal_and_the_report_show_each_profile() -> None:
    from benchharness.matrix import Case
    from benchharness.readings import Measurement
    from benchharness.records import CaseRecord
    from benchharness.report.profiles_view import profile_lines, sustained_figure

    clock = Clock()
    model = FakeLM(clock)
    corpus = np.arange(5000) % 50
    w = Workload(
        prompt_tokens=16, gen_tokens=4, warmup_rounds=0, min_rounds=1, max_rounds=1, min_time_s=0.0,
        profiles=("short", "long-prompt", "chat", "ttft-sweep", "sustained"), long_prompt_tokens=100,
        long_gen_tokens=8, chat_turns=2, chat_turn_tokens=20, ttft_sweep=(10, 100), sustained_s=8.0,
        sustained_interval_s=1.0,
    )  # fmt: skip
    found = measure_profiles(model, w, corpus, list(corpus[:16]), context=90, guards=GuardReading, clock=clock)
    profiles = {"short": "pp16 @ d0, tg4 @ d16", **found.labels}
    info = child_info(lm=lm_facts(profiles=profiles, profiles_s=8.5, sustained=found.sustained))
    m = Measurement("m-q4-fake-cpu", {r.name: r for r in found.readings}, info)
    case = Case("s", "m", "q4", "fake", "cpu", "f32")
    lines = profile_lines([CaseRecord(case, measurement=m).result()])
    assert lines[0] == "profiles of m-q4-fake-cpu (medians of rounds; the headline, short, is the table's row):"
    assert lines[1] == (
        "  long-prompt: TTFT 81.00 ms, prefill 1,000 tok/s, decode 100.0 tok/s [pp81 + tg8 (capped at 81 tokens "
        "(long_prompt_tokens = 100) by the model's 90-token context less 8 generated and 1 spare)]"
    )
    assert re.match(
        r"  chat: TTFT per turn 20.00 ms / 20.00 ms; decode per turn 100.00? tok/s / 100.00? tok/s \[2 turns", lines[2]
    )
    assert lines[3] == (
        "  ttft-sweep: TTFT pp10 10.00 ms, pp100 unavailable (unavailable: a 100-token prompt exceeds the model's "
        "90-token context)"
    )
    assert lines[4] == (
        "  sustained: first 2 s 100.0 tok/s, steady (last 2 s) 100.0 tok/s (+0.0%); never dropped more than 10% "
        "below the start; CPU clock not exposed, temperature not exposed [pp16 + tg4 rounds back to back for 8 s, "
        "read every 1 s]"
    )
    svg = sustained_figure([CaseRecord(case, measurement=m).result()], "s: sustained load")
    assert svg is not None and svg.startswith("<svg") and "decode tok/s per interval" in svg


def test_a_sustained_run_longer_than_the_case_timeout_is_refused() -> None:
    data = {
        "case_timeout_s": 900,
        "suites": {"s": {"workload": {"profiles": ["short", "sustained"], "sustained_s": 900}}},
    }
    with pytest.raises(ConfigError, match=r"suites.s.workload.sustained_s = 900 would outlast case_timeout_s = 900"):
        parse_settings(data, Path("."))
    assert parse_settings({**data, "case_timeout_s": 1500}, Path(".")).suites["s"].workload is not None


class NoCacheLM(PipelineLM):
    """Steps token by token but cannot append to its cache (MLX's shape here): no fill, no extend."""

    def prefill(self, tokens: Sequence[int]) -> int:
        return 1

    def decode(self, token: int) -> int:
        return 1

    timed_generation = None  # type: ignore[assignment]


def test_a_model_that_cannot_append_to_its_cache_reports_chat_unavailable() -> None:
    w = Workload(warmup_rounds=0, min_rounds=1, max_rounds=1, min_time_s=0.0, profiles=("short", "chat"))
    found = measure_profiles(NoCacheLM(), w, np.arange(1000) % 50, [1] * 16, context=None)
    reasons = {r.unavailable_reason for r in found.readings}
    assert reasons == {
        "NoCacheLM cannot append to its KV cache between calls here (it has no ContextModel.extend): a chat turn "
        "would be a fresh prompt, not a turn"
    }
    assert len(found.readings) == 4 * 3  # every turn's TTFT, prefill and decode, none invented


def test_a_profile_lines_ttft_and_prefill_rate_agree_under_noise() -> None:
    """A newcomer's finding: TTFT and prefill tok/s are one measurement, but means of each disagreed under noise."""
    from benchharness.matrix import Case
    from benchharness.readings import Measurement, Reading
    from benchharness.records import CaseRecord
    from benchharness.report.profiles_view import profile_lines

    ttft = [100.0, 100.0, 400.0]  # ms for a 1,000-token prompt: one round slowed by other work
    rates = [1000 / (t / 1000) for t in ttft]
    readings = {
        "ttft_ms@long-prompt": Reading("ttft_ms@long-prompt", "ms", sum(ttft) / 3, 0.0, 3),
        "prefill_tok_per_s@long-prompt": Reading("prefill_tok_per_s@long-prompt", "tok/s", sum(rates) / 3, 0.0, 3),
        "decode_tok_per_s@long-prompt": Reading("decode_tok_per_s@long-prompt", "tok/s", 50.0, 0.0, 3),
    }
    samples = {"ttft_ms@long-prompt": ttft, "prefill_tok_per_s@long-prompt": rates}
    info = child_info(lm=lm_facts(profiles={"short": "pp16", "long-prompt": "pp1000 + tg8"}, profiles_s=1.5))
    m = Measurement("m-q4-fake-cpu", readings, info, (), samples)
    (line,) = profile_lines([CaseRecord(Case("s", "m", "q4", "fake", "cpu", "f32"), measurement=m).result()])[1:]
    assert line.startswith("  long-prompt: TTFT 100.0 ms, prefill 10,000 tok/s,"), line  # means: 200 ms, 7,500 tok/s


def test_the_reports_ttft_sweep_rows_sort_by_prompt_length_not_as_text() -> None:
    """A newcomer's finding: the metric table listed pp1000 before pp200 (text order)."""
    from benchharness.report.html import _metric_order

    names = [
        "ttft_ms@pp1000",
        "ttft_ms@pp200",
        "ttft_ms@pp50",
        "ttft_ms",
        "decode_tok_per_s@d2048",
        "decode_tok_per_s@d512",
    ]
    assert sorted(names, key=_metric_order) == [  # METRICS' order first (ttft_ms leads), then natural order
        "ttft_ms",
        "ttft_ms@pp50",
        "ttft_ms@pp200",
        "ttft_ms@pp1000",
        "decode_tok_per_s@d512",
        "decode_tok_per_s@d2048",
    ]
