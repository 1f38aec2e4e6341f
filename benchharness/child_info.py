"""The child's reply beyond its readings, typed: what a case was measured under, and what the parent adds.

`Measurement.info` was a dict the child filled and the parent added to, read by string key with silent
defaults (`info.get("accuracy_scored", True)`), so a renamed key or a wrong type drifted unseen. Here
every key the child or the parent writes is one typed field, `to_dict()` writes exactly the JSON the
results files have always held (flat, the same keys, the same nulls), and `from_dict()` is strict: an
unknown key, a missing one or a wrong type is a one-line ReplyError that names the key, nested objects
included (`info.sustained.intervals[0].rounds`): each nested object is the frozen type of the module that
writes it (the guards' reading, the sustained run, the KL statistics, the weights' composition, ...),
read and written by typed_json.py.

How a key is written, read off each field (typed_json.py):
- a field without a default: a key every results file since schema 4 has (required);
- `_OMITTED`: a key written only when it has a value (the parent's provenance, a later-added key);
- `_NULL`: a key written always, null included, that files written before it existed lack (read as None);
- `_GROUP`: a kind's or a meter's keys, flat in the JSON; the group is there when any of its keys is, and
  then each of its required keys must be.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field, replace
from typing import Any

from benchharness.evaldata import EvalData
from benchharness.formats.composition import WeightComposition
from benchharness.meters.guards import GuardReading
from benchharness.meters.huge_pages import HugePages
from benchharness.models.provenance import Provenance
from benchharness.models.traffic import TokenTraffic
from benchharness.sustained import Sustained
from benchharness.tasks.divergence import KlStatistics
from benchharness.tasks.timed_tokens import TokenCheck
from benchharness.typed_json import GROUP as _GROUP
from benchharness.typed_json import NULL as _NULL
from benchharness.typed_json import OMITTED as _OMITTED
from benchharness.typed_json import read, write

# What the backend set, in its own names: each value is the backend's own words for a setting
# ("f16, llama.cpp's default", "dropped before load: 2 files, 140 MiB"), as every backend writes them
# (backends/*.py: `runtime_settings -> dict[str, str]`), so a number or a nested object here is a writer that
# drifted from that, refused on reading rather than compared as text later (compare.py, run_flags.py).
RuntimeSettings = dict[str, str]


@dataclass(frozen=True)
class Flag:
    """A bottleneck flag with the figure that raised it; the session adds its likely causes and actions."""

    name: str  # cpu_bound, memory_bound, inconsistent, throttled; run_flags.py: low_bandwidth_utilisation, kernel_fallback
    figure: str  # the whole sentence
    value: str  # the figure alone, for a compact list of cases
    causes: str | None = field(default=None, metadata=_OMITTED)  # advice.py, on the parent's side
    actions: str | None = field(default=None, metadata=_OMITTED)


@dataclass(frozen=True)
class Flips:
    """Prompts whose exact answer the variant lost (right to wrong) or gained against the reference's."""

    right_to_wrong: int
    wrong_to_right: int
    items: int


@dataclass(frozen=True)
class Answers:
    """The team's prompts (data.prompts): how many, the longest answer, and the flips where the reference's are known."""

    prompts: int
    max_new_tokens: int
    answer_tokens: int
    flips: Flips | None = field(default=None, metadata=_OMITTED)


@dataclass(frozen=True)
class LmFacts:
    """What a causal-LM child timed and scored on (kinds/causal_lm.py)."""

    n_ctx: int
    prompt_tokens: int
    gen_tokens: int
    rounds: int
    depths: dict[str, str]  # "headline" or the depth's suffix -> what it timed ("pp128 @ d0, tg64 @ d128")
    tokenization: str
    kl_statistics: KlStatistics | None  # tasks/divergence.py's statistics; None where the reference wrote them
    timed_tokens: TokenCheck | None = field(default=None, metadata=_NULL)  # tasks/timed_tokens' check
    workload_prompts: str | None = field(default=None, metadata=_OMITTED)  # where the timed prompts came from
    profiles: dict[str, str] | None = field(default=None, metadata=_OMITTED)  # each profile -> what it timed
    profiles_s: float | None = field(default=None, metadata=_OMITTED)
    sustained: Sustained | None = field(default=None, metadata=_OMITTED)  # the sustained run, interval by interval
    answers: Answers | None = field(default=None, metadata=_OMITTED)


@dataclass(frozen=True)
class CallsFacts:
    """What a one-call child timed (kinds/one_call.py): its batch sizes and the calls timed at each."""

    batch_sizes: tuple[int, ...]
    calls: dict[str, int]


@dataclass(frozen=True)
class CpuFacts:
    """The CPU meter's view of the timed region (meters/utilisation.CpuMeter)."""

    cpu_per_core: tuple[float, ...]  # each core's busy share over the timed region, system-wide
    memory_available_bytes: float  # available memory when the region began plus what the child held


@dataclass(frozen=True)
class MemoryFacts:
    """The memory meter's view (meters/memory.MemoryMeter): what the child held before loading."""

    rss_before_load_bytes: float | None


@dataclass(frozen=True)
class RegionFacts:
    """What the region's meters add to the reply; a meter that failed adds nothing (its group stays None)."""

    cpu: CpuFacts | None = None
    memory: MemoryFacts | None = None

    def merged(self, other: RegionFacts) -> RegionFacts:
        """These facts with every group `other` has."""
        return replace(self, **{f.name: v for f in dataclasses.fields(other) if (v := getattr(other, f.name))})


@dataclass(frozen=True)
class KindFacts:
    """What a kind's measure() adds to the reply: where its time went, what its meters saw, its own facts."""

    timed_s: float  # the timed region's seconds (warm-up, profiles and sustained runs included)
    accuracy_s: float  # the accuracy task's seconds
    region: RegionFacts
    lm: LmFacts | None = None
    calls: CallsFacts | None = None
    runtime_settings: RuntimeSettings = field(default_factory=dict)  # what the backend set, in its own names


@dataclass(frozen=True)
class ChildInfo:
    """Everything but the figures in one case's reply: the child's facts, then the parent's (variant, flags)."""

    runtime: str  # the backend's runtime and version
    threads: int
    kind: str  # the model kind (kinds/)
    measurement_key: str  # suite, case, workload, threads, variant content, tokens (trial_runner.measurement_key)
    guard_start: GuardReading  # meters/guards.read_guards: clock, governor, power, temperature
    guard_end: GuardReading
    throttled: str | None  # why the region looks throttled, or None
    accuracy_scored: bool
    timed_s: float  # the child's timed seconds, the cold first call included (cost.py)
    accuracy_s: float
    flags: tuple[Flag, ...]  # the child's bottleneck flags, then the parent's (run_flags.py)
    # What the backend set, in its own names (precision hints, KV cache, page cache); a one-call child's
    # files before 2026-11-30 19:00 have none.
    runtime_settings: RuntimeSettings | None = field(default=None, metadata=_OMITTED)
    eval_data: EvalData | None = field(default=None, metadata=_OMITTED)  # each data file: path, size, SHA-256
    huge_pages: HugePages | None = field(default=None, metadata=_NULL)  # meters/huge_pages.huge_page_use
    lm: LmFacts | None = field(default=None, metadata=_GROUP)
    calls: CallsFacts | None = field(default=None, metadata=_GROUP)
    cpu: CpuFacts | None = field(default=None, metadata=_GROUP)
    memory: MemoryFacts | None = field(default=None, metadata=_GROUP)
    variant_key: str | None = field(default=None, metadata=_OMITTED)  # the parent's, from here on
    variant_file: str | None = field(default=None, metadata=_OMITTED)
    provenance: Provenance | None = field(default=None, metadata=_OMITTED)  # who made the variant
    weights: WeightComposition | None = field(default=None, metadata=_OMITTED)  # formats/composition.py
    traffic: TokenTraffic | None = field(default=None, metadata=_OMITTED)  # models/traffic.py: bytes per token

    def to_dict(self) -> dict[str, Any]:
        """The JSON the results files hold: one flat object, the groups' keys beside the others'."""
        result: dict[str, Any] = write(self)
        return result

    @classmethod
    def from_dict(cls, data: Any, where: str = "info") -> ChildInfo:
        """Read a reply's info strictly: ReplyError names an unknown, missing or mistyped key by its path."""
        info: ChildInfo = read(cls, data, where)
        return info
