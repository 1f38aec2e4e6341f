"""The frozen settings types: what a run is configured with, each default stated once, here.

`config.py` reads `[tool.benchharness]` (and `--bench-config`, `--bench-set`) into these types;
`cli_options.py` holds what the command line adds. Nothing here parses: a field's default is the
default, and the reader takes it from the type (`take(key, int, Workload().prompt_tokens)`).
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from benchharness.gates import GateRule, default_rules
from benchharness.readings import base_name

INCONCLUSIVE_POLICIES = ("warn", "fail")
# Readings a suite may put a ceiling on (`[suites.NAME.limits]`): cold start, stated as intent.
LIMIT_METRICS = ("load_ms", "first_inference_ms", "ttft_ms")


@dataclass(frozen=True)
class Workload:
    """The generation workload timed for every case (llama-bench's pp/tg, with warm-up and rounds)."""

    prompt_tokens: int = 128
    gen_tokens: int = 64
    warmup_rounds: int = 1
    min_rounds: int = 5
    max_rounds: int = 50
    min_time_s: float = 3.0
    # Context depths (tokens already in the KV cache before the prompt), llama-bench's -d. The first
    # is the headline: its metrics carry the plain names gates and baselines use; every other depth
    # adds the same metrics suffixed "@d<depth>".
    depths: tuple[int, ...] = (0,)
    # Named deployment shapes timed beside the headline (profiles.py): the first, "short", is today's
    # prompt_tokens + gen_tokens above and carries the plain names gates and baselines judge; each other
    # profile's figures carry its own suffix ("ttft_ms@long-prompt", "decode_tok_per_s@chat-t2").
    profiles: tuple[str, ...] = ("short",)
    long_prompt_tokens: int = 2048  # long-prompt: a summariser's prompt from the accuracy corpus ...
    long_gen_tokens: int = 128  # ... and its generated summary
    chat_turns: int = 4  # chat: turns of one conversation, the KV cache kept between them
    chat_turn_tokens: int = 64  # the user's message per turn (each reply is gen_tokens long)
    ttft_sweep: tuple[int, ...] = (64, 256, 1024)  # ttft-sweep: prompt lengths whose TTFT is timed
    sustained_s: float = 300.0  # sustained: how long the case runs back to back
    sustained_interval_s: float = 10.0  # ... and the interval its throughput is read over


@dataclass(frozen=True)
class AccuracySettings:
    """The next-token task: `windows` windows of `n_ctx` tokens, the second half of each scored."""

    n_ctx: int = 512
    windows: int = 12


@dataclass(frozen=True)
class BaselineSettings:
    """Regression = worse than the baseline by more than `min_effect` (relative) *and* significant.

    Significance is a one-sided Mann-Whitney U test on the round samples at `alpha` (asv uses 0.002).
    `metrics` names the figures compared (None: every tracked one); a suite on a noisy host can gate
    decode throughput and memory and leave a 30 ms TTFT, which drifts by a third there, out.

    Deterministic figures (accuracy, KL, file size: a re-run reproduces them) have no rounds to test:
    they regress when worse by more than `deterministic_tolerance` (relative) and by more than twice
    their own standard error where they carry one. `max_outside_load` is the share of the machine's CPUs
    that work the case did not cause may keep busy in its timed region before a saved baseline is
    flagged as recorded under load, and before a move of a timed figure (either side loaded past it) is
    "not decided" rather than called (judge._outside_load).

    Rounds share one child, so passing that test says the two children differ, not the two runs. The
    run is the unit of replication between runs: a change is called only when the same machine's other
    runs of the figure (its history, more children) show it is past the between-run spread too
    (stats.run_shift). Where fewer than stats.MIN_REPLICATES runs are known, only a figure that moved
    by more than `run_factor` times (throughput -33%, latency +50% at 1.5) is called; a smaller move is
    "not decided".
    """

    min_effect: float = 0.05
    alpha: float = 0.002
    metrics: tuple[str, ...] | None = None
    deterministic_tolerance: float = 0.05
    max_outside_load: float = 0.20
    run_factor: float = 1.5

    def compares(self, metric: str) -> bool:
        return self.metrics is None or base_name(metric) in self.metrics


@dataclass(frozen=True)
class TrialSettings:
    """How variants are measured against their reference: pairs, budget, confirmation.

    `pairs` alternating rounds (A-B-B-A) per paired child; while a gate is inconclusive the session
    buys another child of `pairs` more, up to `max_pairs` in all (Pinpoint's rule). A failure or
    regression is re-measured `confirm` times in a fresh child before the case fails.
    """

    pairs: int = 6
    max_pairs: int = 24
    confidence: float = 0.95
    confirm: int = 1
    cooldown_s: float = 0.0


@dataclass(frozen=True)
class VariantSource:
    """Where a user-declared variant comes from: a file, or a recipe applied to another variant.

    `quantize = "Q4_K_M"` is short for `recipe = "llama-quantize", ftype = "Q4_K_M"`. A recipe's
    parameters are kept as TOML gave them: the registry checks them against the recipe's declaration
    (models/recipes.py), which config does not know.
    """

    path: Path | None = None
    quantize: str | None = None
    base: str | None = None  # label of the variant it is made from; None: the reference of the format it reads
    format: str | None = None  # None: read off the file's suffix (.gguf, .onnx, .xml), or what the recipe writes
    recipe: str | None = None
    params: tuple[tuple[str, object], ...] = ()  # the recipe's parameters as declared
    root: Path | None = None  # the folder of the file that declares it: where a file parameter's path starts


@dataclass(frozen=True)
class DataSource:
    """A team's own evaluation data for one model (`[tool.benchharness.models.NAME.data]`), paths resolved.

    Empty: the built-in data (CPython's pydoc topics). The files are read, checked and hashed at
    start-up by benchharness/evaldata.py, so a bad file stops the session before anything is built.
    """

    text: tuple[Path, ...] = ()  # prose for next-token top-1, perplexity and KL (causal LMs)
    retrieval: Path | None = None  # JSONL of {"query": ..., "positive": ...} lines (encoders)
    prompts: Path | None = None  # JSONL of {"prompt": ..., "answer": ...} lines, greedy exact match (causal LMs)
    classification: Path | None = None  # CSV or JSONL of feature vectors and integer labels (classifiers)


@dataclass(frozen=True)
class ModelConfig:
    """A model declared (or extended) in configuration instead of Python."""

    name: str
    reference: str | None
    variants: dict[str, VariantSource]
    # What the model does: causal-lm, encoder or classifier. None: read off a checkpoint source's
    # config.json (architectures), else causal-lm.
    kind: str | None = None
    source: Path | None = None  # a Hugging Face checkpoint folder every format's variants are made from
    data: DataSource = DataSource()


@dataclass(frozen=True)
class SuiteConfig:
    """One suite's matrix and gate policy (`[tool.benchharness.suites.NAME]`)."""

    name: str
    models: tuple[str, ...] | None = None  # None: every registered model the backends can load
    backends: tuple[str, ...] | None = None
    variants: tuple[str, ...] | None = None
    devices: tuple[str, ...] | None = None
    gates: tuple[GateRule, ...] = field(default_factory=default_rules)
    workload: Workload | None = None  # None: the global [tool.benchharness.workload]
    accuracy: AccuracySettings | None = None  # None: the global [tool.benchharness.accuracy]
    inconclusive: str = "warn"  # what an inconclusive gate does to the case: warn (pass, shown) or fail
    strict_policy: bool = False  # a declared known breach that passes (XPASS) fails the case
    limits: dict[str, float] = field(default_factory=dict)  # ceilings on cold-start readings
    baseline: BaselineSettings | None = None  # None: the global [tool.benchharness.baseline]


PREFERENCES = ("speed", "size", "accuracy", "energy")
DEFAULT_PREFERENCE = ("speed", "size", "accuracy")


@dataclass(frozen=True)
class Target:
    """A deployment target (`[tool.benchharness.targets.NAME]`): a team's limits and what it prefers among what fits.

    Every limit is optional; None leaves that figure free. Sizes are bytes (TOML gives an integer or a
    human size such as "50 MiB"). `min_speed` is in the model kind's own speed metric (decode tok/s for
    a causal LM, items/s for the others); `min_accuracy_retained` is the accuracy_retained gate's ratio
    to the reference, `min_accuracy` the absolute accuracy the gate judges. `prefer` orders the choice
    among the configurations that meet every limit (report/targets.py says how noise breaks ties).
    """

    name: str
    max_model_bytes: float | None = None
    max_memory_bytes: float | None = None
    min_speed: float | None = None
    max_ttft_ms: float | None = None
    min_accuracy_retained: float | None = None
    min_accuracy: float | None = None
    backends: tuple[str, ...] | None = None
    devices: tuple[str, ...] | None = None
    prefer: tuple[str, ...] = DEFAULT_PREFERENCE


@dataclass(frozen=True)
class Settings:
    """Everything the plugin needs, resolved and validated once per session."""

    root: Path
    threads: int = 0  # 0: one per physical core
    cache_dir: Path = field(default_factory=lambda: default_cache_dir())
    results_dir: Path = Path("reports")
    baselines_dir: Path = Path("baselines")
    case_timeout_s: float = 900.0
    workload: Workload = Workload()
    accuracy: AccuracySettings = AccuracySettings()
    baseline: BaselineSettings = BaselineSettings()
    trials: TrialSettings = TrialSettings()
    models: tuple[ModelConfig, ...] = ()
    suites: dict[str, SuiteConfig] = field(default_factory=dict)
    estimate_cpu_tdp_w: float | None = None  # [energy] estimate_cpu_tdp_w: an estimate where no counter exists
    targets: dict[str, Target] = field(default_factory=dict)  # deployment targets: what to ship where


def default_cache_dir() -> Path:
    """Prepared variants are large and reusable across clones: keep them in the user cache."""
    if env := os.environ.get("BENCHHARNESS_CACHE"):
        return Path(env).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or "~/.cache"
    return Path(base).expanduser() / "benchharness"
