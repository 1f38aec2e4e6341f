"""The extension point for model kinds: what a kind loads, times, scores and gates on.

Before this, 'causal-lm' / 'encoder' / 'classifier' were spelled out in nine files. A kind is now
one object: adding one is a module and a line in `kinds/__init__.py`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

from benchharness.backends.base import Backend, LoadOptions
from benchharness.child_info import KindFacts
from benchharness.evaldata import EvalData
from benchharness.meters.base import MeterCase
from benchharness.meters.energy import Energy
from benchharness.meters.gpu_board import BoardBeforeLoad
from benchharness.readings import Reading
from benchharness.settings import AccuracySettings, Workload

Measured = tuple[list[Reading], list[str], dict[str, list[float]], KindFacts]


@dataclass(frozen=True)
class Column:
    """One column of the kind's terminal table: header, metric, format, optional scale, spread shown."""

    header: str
    metric: str
    fmt: str
    scale: float = 1.0
    with_cv: bool = False


@dataclass(frozen=True)
class ChildContext:
    """What a kind's measuring code gets in the child: the settings and where reference outputs go."""

    workload: Workload
    accuracy: AccuracySettings
    variant_path: Path
    weights_file_bytes: int  # models/sizes.py: the weights the runtime loads
    tokenizer_file_bytes: int | None  # None: no separate tokenizer files (a GGUF holds its own)
    write_reference: Path | None
    read_reference: Path | None
    score_accuracy: bool
    energy: Energy
    corpus_tokens: Path | None = None  # shared token ids of the accuracy corpus (causal LMs)
    rss_before_load: float | None = None  # the child's RSS just before the model was loaded
    device: str = "cpu"  # the case's device type (GPU meters run only for cuda)
    data: EvalData = field(default_factory=EvalData)  # the model's evaluation data (empty: the built-in data)
    model_context: int | None = None  # the model's context length, where its files say it (profiles are capped by it)
    gpu_before_load: BoardBeforeLoad | None = None  # a CUDA case's board before load (its CUDA context's memory)

    def meter_case(self, per_run: float, unit: str) -> MeterCase:
        """What the region's meters are built from: this case, and `per_run` `unit`s made by each timed run."""
        return MeterCase(self.device, self.rss_before_load, self.energy, per_run, unit, self.gpu_before_load)


class ModelKind(Protocol):
    """A kind of model: one place for everything that differs between kinds."""

    @property
    def name(self) -> str: ...

    @property
    def gate_metrics(self) -> Mapping[str, str]:
        """Gate name -> the metric it compares."""
        ...

    @property
    def paired_metric(self) -> str:
        """The speed metric (a rate) alternated against the reference in paired trials."""
        ...

    @property
    def per_item_outcomes(self) -> str:
        """round_samples key of per-item accuracy outcomes (1 right, 0 wrong), for paired retention."""
        ...

    @property
    def columns(self) -> tuple[Column, ...]: ...

    def load(self, backend: Backend, path: Path, device: str, options: LoadOptions) -> Any:
        """The runtime's model object for this kind (LoadedModel or TensorModel)."""
        ...

    def load_options(
        self, threads: int, workload: Workload, accuracy: AccuracySettings, context: int | None = None
    ) -> LoadOptions:
        """What the runtime is asked for; `context` is the model's own context length where its files say it."""
        ...

    def context_fault(self, workload: Workload, accuracy: AccuracySettings, context: int, model: str) -> str | None:
        """What in these settings asks `model` for more than its `context` tokens, with the fix; None if nothing.

        Checked before any child starts, so an oversized workload is one line at start-up rather
        than the runtime's own error in every case.
        """
        ...

    def first_call(self, model: Any, context: ChildContext) -> Callable[[], object]:
        """The call whose first (cold) run is timed as first-inference latency."""
        ...

    def measure(self, model: Any, context: ChildContext) -> Measured:
        """Timed rounds, meters' readings and (if asked) accuracy, in the child."""
        ...

    def paired_round(self, model: Any, context: ChildContext) -> Callable[[], float]:
        """One timed round of `paired_metric` (a rate: higher is faster)."""
        ...
