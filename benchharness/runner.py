"""One case, inside the child process: load once, time the workload, read meters, score accuracy.

Order matters: peak memory is read right after the timed rounds, before the accuracy task maps the
reference's log-probabilities, so the memory figure is the cost of serving, not of grading.
"""

from __future__ import annotations

import importlib
import time
from pathlib import Path
from typing import Any

import numpy as np

from benchharness import stats
from benchharness.backends.base import Backend, LoadOptions
from benchharness.config import AccuracySettings, Workload
from benchharness.errors import CaseFailed, ModelError
from benchharness.meters.energy import energy_meter
from benchharness.meters.memory import peak_rss
from benchharness.readings import Measurement, Reading
from benchharness.tasks import next_token
from benchharness.workload import RoundTiming, run_rounds


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


def _energy_reading(rounds: list[RoundTiming], source: str, reason: str | None) -> Reading:
    values = [r.energy_j for r in rounds if r.energy_j is not None]
    if reason is not None or not values:
        return Reading.unavailable("energy_j", "J", reason or "meter returned no values")
    return _summary_reading("energy_j", "J", values, source)


def measure_case(request: dict[str, Any]) -> Measurement:
    backend = import_backend(request["backend"])
    workload = Workload(**request["workload"])
    accuracy = AccuracySettings(**request["accuracy"])
    path = Path(request["variant_path"])
    if not path.exists():
        raise ModelError(f"variant file {path} does not exist; run the prepare step again")
    options = LoadOptions(
        threads=int(request["threads"]),
        n_ctx=max(workload.prompt_tokens + workload.gen_tokens + 1, accuracy.n_ctx),
        n_batch=max(workload.prompt_tokens, accuracy.n_ctx),
    )
    started = time.perf_counter()
    model = backend.load(path, request["device"], options)
    load_s = time.perf_counter() - started
    try:
        corpus = np.asarray(model.tokenize(next_token.corpus_text()), dtype=np.int64)
        if len(corpus) < workload.prompt_tokens:
            raise ModelError(f"prompt_tokens={workload.prompt_tokens} exceeds the corpus ({len(corpus)} tokens)")
        prompt = corpus[: workload.prompt_tokens].tolist()
        meter, energy_reason = energy_meter(request["device"])
        rounds = run_rounds(model, prompt, workload, meter)
        memory = peak_rss()
        readings, warnings = timing_readings(rounds, workload.prompt_tokens, workload.gen_tokens)
        readings.append(_energy_reading(rounds, meter.source if meter else "", energy_reason))
        readings.append(memory)
        readings.append(Reading("model_file_bytes", "B", float(request["model_file_bytes"]), source="size on disk"))
        reference = request.get("reference_logprobs") or {}
        accuracy_readings, per_window = next_token.evaluate(
            model,
            corpus,
            n_ctx=accuracy.n_ctx,
            windows=accuracy.windows,
            write_reference=Path(reference["path"]) if reference.get("role") == "write" else None,
            read_reference=Path(reference["path"]) if reference.get("role") == "read" else None,
        )
        readings += accuracy_readings
    except ValueError as e:  # a non-finite figure from the runtime (Reading and stats refuse them)
        raise CaseFailed(f"unusable measurement: {e}") from None
    finally:
        model.close()
    samples = {
        "decode_tok_per_s": [workload.gen_tokens / r.decode_s for r in rounds],
        "ttft_ms": [r.ttft_s * 1000 for r in rounds],
        **per_window,
    }
    info = {
        "runtime": backend.runtime_version(),
        "threads": options.threads,
        "n_ctx": options.n_ctx,
        "prompt_tokens": workload.prompt_tokens,
        "gen_tokens": workload.gen_tokens,
        "rounds": len(rounds),
        "load_s": load_s,
    }
    return Measurement(
        case_id=request["case_id"],
        readings={r.name: r for r in readings},
        info=info,
        warnings=tuple(warnings),
        round_samples=samples,
    )
