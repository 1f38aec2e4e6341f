"""One case, inside the child process: load once, time the workload, read meters, score accuracy.

Causal LMs are timed as prefill + decode rounds and scored on next-token prediction; encoders and
classifiers are timed as one call per batch (sizes 1 and 32) and scored by their task.

Order matters: peak memory is read right after the timed rounds, before the accuracy task maps the
reference's log-probabilities, so the memory figure is the cost of serving, not of grading.
"""

from __future__ import annotations

import functools
import importlib
import time
from pathlib import Path
from typing import Any

import numpy as np

from benchharness import stats
from benchharness.backends.base import Backend, LoadedModel, LoadOptions, TensorModel
from benchharness.config import AccuracySettings, Workload
from benchharness.errors import CaseFailed, ModelError
from benchharness.meters.energy import energy_meter
from benchharness.meters.memory import peak_rss
from benchharness.readings import Measurement, Reading
from benchharness.tasks import next_token
from benchharness.tasks.base import TensorTask
from benchharness.tasks.classification import ClassificationTask
from benchharness.tasks.retrieval import RetrievalTask
from benchharness.workload import EnergyCounter, RoundTiming, run_calls, run_rounds


def import_backend(path: str) -> Backend:
    """Instantiate a backend from its 'module:Class' path (how the parent names it to the child)."""
    module_name, _, class_name = path.partition(":")
    backend_class = getattr(importlib.import_module(module_name), class_name)
    return backend_class()  # type: ignore[no-any-return]


def _summary_reading(name: str, unit: str, samples: list[float], source: str) -> Reading:
    s = stats.summarize(samples)
    return Reading(name, unit, s.mean, s.stdev, s.n, source)


def timing_readings(rounds: list[RoundTiming], prompt_tokens: int, gen_tokens: int) -> tuple[list[Reading], list[str]]:
    """Readings (mean and spread over rounds) for every timing metric, with stability warnings."""
    source = f"harness clock (perf_counter), {len(rounds)} rounds of pp{prompt_tokens}+tg{gen_tokens}"
    ttft = [r.ttft_s * 1000 for r in rounds]
    prefill = [prompt_tokens / r.ttft_s for r in rounds]
    decode = [gen_tokens / r.decode_s for r in rounds]
    readings = [
        _summary_reading("ttft_ms", "ms", ttft, source),
        _summary_reading("prefill_tok_per_s", "tok/s", prefill, source),
        _summary_reading("decode_tok_per_s", "tok/s", decode, source),
    ]
    for q in (50, 90, 99):
        per_round = [stats.percentile([s * 1000 for s in r.decode_steps_s], q) for r in rounds]
        readings.append(_summary_reading(f"decode_latency_p{q}_ms", "ms", per_round, source))
    warnings = stats.stability_warnings(stats.summarize(decode), "decode tok/s")
    warnings += stats.stability_warnings(stats.summarize(prefill), "prefill tok/s")
    return readings, warnings


def _energy_reading(per_round: list[float | None], source: str, reason: str | None) -> Reading:
    values = [j for j in per_round if j is not None]
    if reason is not None or not values:
        return Reading.unavailable("energy_j", "J", reason or "meter returned no values")
    return _summary_reading("energy_j", "J", values, source)


def _resource_readings(
    joules: list[float | None], meter: EnergyCounter | None, energy_reason: str | None, request: dict[str, Any]
) -> list[Reading]:
    """Energy per timed run, peak memory and file size: taken after the timed runs, before any accuracy work."""
    return [
        _energy_reading(joules, getattr(meter, "source", ""), energy_reason),
        peak_rss(),
        Reading("model_file_bytes", "B", float(request["model_file_bytes"]), source="size on disk"),
    ]


BATCH_SIZES = (1, 32)


def _tensor_task(kind: str, variant: Path) -> TensorTask:
    if kind == "encoder":
        return RetrievalTask(variant)
    if kind == "classifier":
        return ClassificationTask(variant)
    raise ModelError(f"no accuracy task for model kind {kind!r}; kinds: causal-lm, encoder, classifier")


def batch_timing_readings(calls: dict[int, list[tuple[float, float | None]]]) -> tuple[list[Reading], list[str]]:
    """Latency (mean, p90) and items/s per batch size, with stability warnings."""
    readings: list[Reading] = []
    warnings: list[str] = []
    for size, timed in calls.items():
        source = f"harness clock (perf_counter), {len(timed)} calls at batch {size}"
        latency = [seconds * 1000 for seconds, _ in timed]
        throughput = [size / seconds for seconds, _ in timed]
        readings.append(_summary_reading(f"batch{size}_latency_ms", "ms", latency, source))
        p90 = stats.percentile(latency, 90)
        readings.append(Reading(f"batch{size}_latency_p90_ms", "ms", p90, 0.0, len(latency), source))
        readings.append(_summary_reading(f"batch{size}_items_per_s", "items/s", throughput, source))
        warnings += stats.stability_warnings(stats.summarize(throughput), f"batch-{size} items/s")
    return readings, warnings


def _reference_paths(request: dict[str, Any]) -> tuple[Path | None, Path | None]:
    reference = request.get("reference_outputs") or {}
    path = Path(reference["path"]) if reference.get("path") else None
    return (path, None) if reference.get("role") == "write" else (None, path)


def measure_case(request: dict[str, Any]) -> Measurement:
    """Load the variant once, then time, meter and score it the way its model kind is measured."""
    backend = import_backend(request["backend"])
    workload = Workload(**request["workload"])
    accuracy = AccuracySettings(**request["accuracy"])
    kind = request.get("kind", "causal-lm")
    path = Path(request["variant_path"])
    if not path.exists():
        raise ModelError(f"variant file {path} does not exist; run the prepare step again")
    options = LoadOptions(
        threads=int(request["threads"]),
        n_ctx=max(workload.prompt_tokens + workload.gen_tokens + 1, accuracy.n_ctx),
        n_batch=max(workload.prompt_tokens, accuracy.n_ctx),
    )
    started = time.perf_counter()
    if kind == "causal-lm":
        model: LoadedModel | TensorModel = backend.load(path, request["device"], options)
    else:
        model = backend.load_tensor_model(path, request["device"], options)
    load_s = time.perf_counter() - started
    meter, energy_reason = energy_meter(request["device"])
    try:
        if isinstance(model, LoadedModel):
            readings, warnings, samples, info = _measure_generation(
                model, request, workload, accuracy, meter, energy_reason
            )
        else:
            readings, warnings, samples, info = _measure_tensor(
                model, request, workload, kind, path, meter, energy_reason
            )
    except ValueError as e:  # a non-finite figure from the runtime (Reading and stats refuse them)
        raise CaseFailed(f"unusable measurement: {e}") from None
    finally:
        model.close()
    info |= {"runtime": backend.runtime_version(), "threads": options.threads, "load_s": load_s, "kind": kind}
    return Measurement(
        case_id=request["case_id"],
        readings={r.name: r for r in readings},
        info=info,
        warnings=tuple(warnings),
        round_samples=samples,
    )


Measured = tuple[list[Reading], list[str], dict[str, list[float]], dict[str, Any]]


def _measure_generation(
    model: LoadedModel,
    request: dict[str, Any],
    workload: Workload,
    accuracy: AccuracySettings,
    meter: EnergyCounter | None,
    energy_reason: str | None,
) -> Measured:
    corpus = np.asarray(model.tokenize(next_token.corpus_text()), dtype=np.int64)
    if len(corpus) < workload.prompt_tokens:
        raise ModelError(f"prompt_tokens={workload.prompt_tokens} exceeds the corpus ({len(corpus)} tokens)")
    prompt = corpus[: workload.prompt_tokens].tolist()
    rounds = run_rounds(model, prompt, workload, meter)
    readings, warnings = timing_readings(rounds, workload.prompt_tokens, workload.gen_tokens)
    readings += _resource_readings([r.energy_j for r in rounds], meter, energy_reason, request)
    write_reference, read_reference = _reference_paths(request)
    accuracy_readings, per_window = next_token.evaluate(
        model,
        corpus,
        n_ctx=accuracy.n_ctx,
        windows=accuracy.windows,
        write_reference=write_reference,
        read_reference=read_reference,
    )
    samples = {
        "decode_tok_per_s": [workload.gen_tokens / r.decode_s for r in rounds],
        "ttft_ms": [r.ttft_s * 1000 for r in rounds],
        **per_window,
    }
    info = {
        "n_ctx": accuracy.n_ctx,
        "prompt_tokens": workload.prompt_tokens,
        "gen_tokens": workload.gen_tokens,
        "rounds": len(rounds),
    }
    return readings + accuracy_readings, warnings, samples, info


def _measure_tensor(
    model: TensorModel,
    request: dict[str, Any],
    workload: Workload,
    kind: str,
    path: Path,
    meter: EnergyCounter | None,
    energy_reason: str | None,
) -> Measured:
    task = _tensor_task(kind, path)
    calls: dict[int, list[tuple[float, float | None]]] = {}
    for size in BATCH_SIZES:
        call = functools.partial(model.run, task.timing_feeds(model, size))
        calls[size] = run_calls(call, workload, meter if size == BATCH_SIZES[-1] else None)
    readings, warnings = batch_timing_readings(calls)
    readings += _resource_readings([j for _, j in calls[BATCH_SIZES[-1]]], meter, energy_reason, request)
    write_reference, read_reference = _reference_paths(request)
    accuracy_readings, per_item = task.evaluate(model, write_reference, read_reference)
    samples = {f"batch{size}_items_per_s": [size / s for s, _ in timed] for size, timed in calls.items()} | per_item
    info = {"batch_sizes": list(BATCH_SIZES), "calls": {str(k): len(v) for k, v in calls.items()}}
    return readings + accuracy_readings, warnings, samples, info
