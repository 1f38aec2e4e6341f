"""Named workload profiles: deployment shapes a causal-LM case is timed under beside its headline.

MLPerf Client times prompt categories and llama-bench times pp/tg at several depths; a team asks
how its own shape runs: a summariser's long prompt, a chat that keeps its KV cache between turns,
TTFT as the prompt grows, a device under minutes of load. A suite lists them in `workload.profiles`;
the first, "short" (prompt_tokens + gen_tokens, today's pp128 + tg64), is the headline whose figures
carry the plain names that gates and baselines judge. Every other profile's figures carry a suffix,
as the depth sweep's do (`ttft_ms@long-prompt`, `decode_tok_per_s@chat-t2`, `ttft_ms@pp1024`).

This module is pure: names, suffixes, and how each profile is sized against the model's context.
The measuring lives in kinds/lm_profiles.py; the sustained run's maths in sustained.py.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from benchharness.settings import Workload

HEADLINE = "short"
PROFILES = (HEADLINE, "long-prompt", "chat", "ttft-sweep", "sustained")

# Each profile's own settings: a measurement is defined by them only where the profile runs, so a suite
# that lists no profile keeps the measurement key (and the stored baselines) it had before profiles existed.
PROFILE_SETTINGS: Mapping[str, tuple[str, ...]] = {
    "long-prompt": ("long_prompt_tokens", "long_gen_tokens"),
    "chat": ("chat_turns", "chat_turn_tokens"),
    "ttft-sweep": ("ttft_sweep",),
    "sustained": ("sustained_s", "sustained_interval_s"),
}

REFERENCE_WINDOW_S = 60.0  # the sustained run's drop is read against its first minute ...
DROP = 0.10  # ... and called when throughput falls more than this below it


def defining_workload(settings: Mapping[str, Any]) -> dict[str, Any]:
    """A workload's settings as they define its figures: the settings of profiles it does not list dropped,
    and `profiles` itself dropped when it lists only the headline."""
    listed = tuple(settings.get("profiles") or (HEADLINE,))
    unused = {key for name, keys in PROFILE_SETTINGS.items() if name not in listed for key in keys}
    kept = {k: v for k, v in settings.items() if k not in unused}
    if list(listed) == [HEADLINE]:
        kept.pop("profiles", None)
    return kept


def reference_window_s(sustained_s: float) -> float:
    """The first (and last) stretch of a sustained run its start and its steady state are read over: a minute,
    or a quarter of a run shorter than four minutes (a 10 s test run reads its first and last 2.5 s)."""
    return min(REFERENCE_WINDOW_S, sustained_s / 4)


def chat_suffix(turn: int) -> str:
    return f"@chat-t{turn}"


def sweep_suffix(length: int) -> str:
    return f"@pp{length}"


@dataclass(frozen=True)
class LongPrompt:
    """The long-prompt profile as it fits this model: prompt and generated tokens, and why it was capped."""

    prompt_tokens: int
    gen_tokens: int
    capped: str | None = None  # what capped the prompt below long_prompt_tokens, said in the figures' source
    unavailable: str | None = None  # why nothing fits

    @property
    def label(self) -> str:
        return f"pp{self.prompt_tokens} + tg{self.gen_tokens}"


def long_prompt(workload: Workload, context: int | None, corpus_tokens: int) -> LongPrompt:
    """long_prompt_tokens, capped by the model's context (with long_gen_tokens and one spare) and the corpus."""
    wanted, gen = workload.long_prompt_tokens, workload.long_gen_tokens
    limits = [(corpus_tokens, f"the accuracy corpus's {corpus_tokens} tokens")]
    if context is not None:
        limits.append((context - gen - 1, f"the model's {context}-token context less {gen} generated and 1 spare"))
    limit, why = min(limits)
    if limit < 1:
        return LongPrompt(0, gen, unavailable=f"no prompt fits: {why} leave {limit} tokens")
    if wanted <= limit:
        return LongPrompt(wanted, gen)
    return LongPrompt(limit, gen, capped=f"capped at {limit} tokens (long_prompt_tokens = {wanted}) by {why}")


def sweep_lengths(workload: Workload, context: int | None) -> tuple[tuple[int, ...], dict[int, str]]:
    """The ttft_sweep lengths that fit the model's context (with one generated token and one spare), and why
    each other one does not."""
    fits = tuple(n for n in workload.ttft_sweep if context is None or n + 2 <= context)
    left = {n: f"a {n}-token prompt exceeds the model's {context}-token context" for n in workload.ttft_sweep}
    return fits, {n: why for n, why in left.items() if n not in fits}


def chat_turns(workload: Workload, context: int | None) -> tuple[int, dict[int, str]]:
    """How many chat turns fit the model's context, and why each later turn does not."""
    per_turn = workload.chat_turn_tokens + workload.gen_tokens + 1
    fit = workload.chat_turns if context is None else min(workload.chat_turns, max((context - 1) // per_turn, 0))
    why = (
        f"turn {{turn}} would take the conversation past the model's {context}-token context ({per_turn} tokens a "
        f"turn: chat_turn_tokens {workload.chat_turn_tokens} + gen_tokens {workload.gen_tokens} + 1 spare)"
    )
    return fit, {turn: why.format(turn=turn) for turn in range(fit + 1, workload.chat_turns + 1)}


def context_needed(workload: Workload) -> int:
    """The longest sequence the listed profiles ask the runtime to hold (before any cap by the model's context)."""
    needs = [0]
    if "long-prompt" in workload.profiles:
        needs.append(workload.long_prompt_tokens + workload.long_gen_tokens + 1)
    if "chat" in workload.profiles:
        needs.append(workload.chat_turns * (workload.chat_turn_tokens + workload.gen_tokens + 1) + 1)
    if "ttft-sweep" in workload.profiles:
        needs.append(max(workload.ttft_sweep) + 2)
    return max(needs)
