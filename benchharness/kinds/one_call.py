"""Models timed as one call per batch (encoders, classifiers), scored by their accuracy task."""

from __future__ import annotations

import functools
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from benchharness import stats
from benchharness.backends.base import Backend, LoadOptions, TensorModel
from benchharness.child_info import CallsFacts, KindFacts
from benchharness.evaldata import EvalData
from benchharness.gates import ACCURACY_RETAINED, ENERGY_REDUCTION, MEMORY_REDUCTION, SPEEDUP
from benchharness.kinds.base import ChildContext, Column, Measured
from benchharness.meters.region import RegionMeters
from benchharness.meters.resources import resource_readings, summary_reading
from benchharness.readings import Reading
from benchharness.settings import AccuracySettings, Workload
from benchharness.tasks.base import TensorTask
from benchharness.tasks.classification import ClassificationTask
from benchharness.tasks.retrieval import RetrievalTask
from benchharness.workload import Calls, run_calls, time_call

BATCH_SIZES = (1, 32)
GATED_BATCH = BATCH_SIZES[-1]


def batch_timing_readings(calls: dict[int, Calls]) -> tuple[list[Reading], list[str]]:
    """Latency (mean, p90) and items/s per batch size, with stability warnings."""
    readings: list[Reading] = []
    warnings: list[str] = []
    for size, timed in calls.items():
        seconds = timed.seconds
        source = f"harness clock (perf_counter), {len(seconds)} calls at batch {size}"
        latency = [s * 1000 for s in seconds]
        throughput = [size / s for s in seconds]
        readings.append(summary_reading(f"batch{size}_latency_ms", "ms", latency, source))
        p90 = stats.percentile(latency, 90)
        readings.append(Reading(f"batch{size}_latency_p90_ms", "ms", p90, None, len(latency), source))
        readings.append(summary_reading(f"batch{size}_items_per_s", "items/s", throughput, source))
        warnings += stats.stability_warnings(stats.summarize(throughput), f"batch-{size} items/s")
    return readings, warnings


@dataclass(frozen=True)
class OneCallKind:
    name: str
    task: Callable[[Path, EvalData], TensorTask]  # (variant folder, the model's evaluation data)
    accuracy_metric: str
    fidelity_metric: str
    per_item_outcomes: str
    paired_metric: str = f"batch{GATED_BATCH}_items_per_s"
    gate_metrics: dict[str, str] = field(default_factory=dict)
    columns: tuple[Column, ...] = ()

    def __post_init__(self) -> None:
        gates = {
            ACCURACY_RETAINED.name: self.accuracy_metric,
            SPEEDUP.name: self.paired_metric,
            MEMORY_REDUCTION.name: "model_memory_bytes",
            ENERGY_REDUCTION.name: "energy_per_item_j",
        }
        columns = (
            Column("b1 ms", "batch1_latency_ms", ".2f"),
            Column("b32 items/s", self.paired_metric, ".1f", with_cv=True),
            Column("peak MiB", "peak_rss_bytes", ".0f", 1 / 2**20),
            Column("model mem MiB", "model_memory_bytes", ".0f", 1 / 2**20),
            Column("accuracy", self.accuracy_metric, ".2%"),
            Column("fidelity", self.fidelity_metric, ".4f"),
        )
        object.__setattr__(self, "gate_metrics", gates)
        object.__setattr__(self, "columns", columns)

    def load(self, backend: Backend, path: Path, device: str, options: LoadOptions) -> TensorModel:
        return backend.load_tensor_model(path, device, options)

    def load_options(
        self, threads: int, workload: Workload, accuracy: AccuracySettings, context: int | None = None
    ) -> LoadOptions:
        return LoadOptions(threads=threads, n_ctx=accuracy.n_ctx, n_batch=GATED_BATCH)

    def context_fault(self, workload: Workload, accuracy: AccuracySettings, context: int, model: str) -> str | None:
        """Never: the task's inputs are fixed-size items (sentences, images), not the workload's tokens."""
        return None

    def first_call(self, model: TensorModel, context: ChildContext) -> Callable[[], object]:
        feeds = self.task(context.variant_path, context.data).timing_feeds(model, BATCH_SIZES[0])
        return functools.partial(model.run, feeds)

    def measure(self, model: TensorModel, context: ChildContext) -> Measured:
        task = self.task(context.variant_path, context.data)
        calls: dict[int, Calls] = {}
        region = RegionMeters(context.meter_case(GATED_BATCH, "item"))  # the timed region, not loading or scoring
        region.start()
        timing_started = time.perf_counter()
        for size in BATCH_SIZES:
            call = functools.partial(model.run, task.timing_feeds(model, size))
            calls[size] = run_calls(call, context.workload, context.energy.round_meter if size == GATED_BATCH else None)
        timed_s = time.perf_counter() - timing_started
        region_readings, region_info = region.stop()
        readings, warnings = batch_timing_readings(calls)
        readings += region_readings
        readings += resource_readings((context.weights_file_bytes, context.tokenizer_file_bytes))
        samples: dict[str, list[float]] = {}
        for size, timed in calls.items():
            samples[f"batch{size}_items_per_s"] = [size / s for s in timed.seconds]
            samples[f"batch{size}_latency_ms"] = [s * 1000 for s in timed.seconds]
        accuracy_started = time.perf_counter()
        if context.score_accuracy:
            accuracy_readings, per_item = task.evaluate(model, context.write_reference, context.read_reference)
            readings += accuracy_readings
            samples |= per_item
        info = KindFacts(
            timed_s=timed_s,
            accuracy_s=time.perf_counter() - accuracy_started,
            region=region_info,
            calls=CallsFacts(tuple(BATCH_SIZES), {str(k): len(v.seconds) for k, v in calls.items()}),
        )
        return readings, warnings, samples, info

    def paired_round(self, model: TensorModel, context: ChildContext) -> Callable[[], float]:
        feeds = self.task(context.variant_path, context.data).timing_feeds(model, GATED_BATCH)
        return lambda: GATED_BATCH / time_call(functools.partial(model.run, feeds))


ENCODER = OneCallKind(
    name="encoder",
    task=RetrievalTask,
    accuracy_metric="retrieval_top1",
    fidelity_metric="cosine_vs_reference",
    per_item_outcomes="retrieval_hit_per_query",
)
CLASSIFIER = OneCallKind(
    name="classifier",
    task=ClassificationTask,
    accuracy_metric="heldout_accuracy",
    fidelity_metric="same_prediction_vs_reference",
    per_item_outcomes="correct_per_item",
)
