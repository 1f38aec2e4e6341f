"""Typed child replies for tests that build a Measurement by hand (their figures are planted).

A plain module, not conftest.py: the repository's root holds a conftest.py too, and a worker process (a
multiprocessing test) that imports `conftest` by name can get that one instead, so helpers shared by test
modules and their workers live here, under a name only this folder has.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from benchharness.child_info import ChildInfo, LmFacts
from benchharness.kinds.causal_lm import OWN_TOKENS
from benchharness.meters.guards import GuardReading


def child_info(**changes: Any) -> ChildInfo:
    """What a CPU causal-LM child's reply says besides its figures, with `changes` (ChildInfo's fields) over it.

    For tests that build a Measurement by hand: their figures are planted, and a reply always says what it
    was measured under (child_info.ChildInfo has no default for a key every child writes).
    """
    base = ChildInfo(
        runtime="fake 1",
        threads=2,
        kind="causal-lm",
        measurement_key="a-test-s-key",
        guard_start=GuardReading(),
        guard_end=GuardReading(),
        throttled=None,
        accuracy_scored=True,
        runtime_settings={},
        timed_s=0.01,
        accuracy_s=0.0,
        flags=(),
    )
    return replace(base, **changes)


def lm_facts(**changes: Any) -> LmFacts:
    """A causal-LM child's own facts (pp16 + tg4 at depth 0), with `changes` over them."""
    base = LmFacts(
        n_ctx=128,
        prompt_tokens=16,
        gen_tokens=4,
        rounds=3,
        depths={"headline": "pp16 @ d0, tg4 @ d16"},
        tokenization=OWN_TOKENS,
        kl_statistics=None,
    )
    return replace(base, **changes)
