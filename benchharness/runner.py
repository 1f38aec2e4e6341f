"""Inside the child process: a variant measured alone, or a variant and its reference in pairs.

Order matters in `measure_case`: load time and the first (cold) call are timed first, then the
steady-state rounds; peak memory is read right after those rounds, before the accuracy task maps
the reference's outputs, so the memory figure is the cost of serving, not of grading.
"""

from __future__ import annotations

import importlib
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from benchharness import kinds
from benchharness.backends.base import Backend
from benchharness.child_info import ChildInfo
from benchharness.errors import CaseFailed, ModelError
from benchharness.gpus import is_cuda
from benchharness.kinds.base import ChildContext, ModelKind
from benchharness.meters.energy import Energy
from benchharness.meters.gpu_board import read_board_before_load
from benchharness.meters.guards import read_guards, throttled
from benchharness.meters.huge_pages import huge_page_use
from benchharness.meters.memory import current_rss
from benchharness.meters.utilisation import bottleneck_flags
from benchharness.models.sizes import file_sizes
from benchharness.page_cache import drop_cached_pages
from benchharness.protocol import MeasureRequest, ModelSpec, PairedRequest, PairedTiming
from benchharness.readings import Measurement, Reading


def import_backend(path: str) -> Backend:
    """Instantiate a backend from its 'module:Class' path (how the parent names it to the child)."""
    module_name, _, class_name = path.partition(":")
    backend_class = getattr(importlib.import_module(module_name), class_name)
    return backend_class()  # type: ignore[no-any-return]


def _load(
    spec: ModelSpec, kind: ModelKind, threads: int, request: MeasureRequest | PairedRequest
) -> tuple[Any, float, Backend, str]:
    """The loaded model, its load time (s), its backend, and what was done to its files' cached pages.

    The files' cached pages are dropped first (page_cache.drop_cached_pages): a memory-mapped model's
    speed otherwise depends on how its file was last written or read.
    """
    path = Path(spec.path)
    if not path.exists():
        raise ModelError(f"variant file {path} does not exist; run the prepare step again")
    backend = import_backend(spec.backend)
    options = replace(
        kind.load_options(threads, request.workload, request.accuracy, spec.context_tokens), safe_mode=spec.safe_mode
    )
    if isinstance(request, PairedRequest):
        options = replace(options, stop_spinning=request.stop_spinning)
    page_cache = drop_cached_pages(path)
    started = time.perf_counter()
    model = kind.load(backend, path, spec.device, options)
    return model, time.perf_counter() - started, backend, page_cache


def _context(request: MeasureRequest | PairedRequest, spec: ModelSpec, **reference: Any) -> ChildContext:
    return ChildContext(
        workload=request.workload,
        accuracy=request.accuracy,
        variant_path=Path(spec.path),
        weights_file_bytes=spec.file_bytes,
        tokenizer_file_bytes=file_sizes(Path(spec.path)).tokenizer_bytes,
        write_reference=reference.get("write"),
        read_reference=reference.get("read"),
        score_accuracy=bool(reference.get("score", False)),
        energy=Energy.for_device(
            spec.device, request.estimate_cpu_tdp_w if isinstance(request, MeasureRequest) else None
        ),
        corpus_tokens=Path(request.corpus_tokens) if request.corpus_tokens else None,
        device=spec.device,
        data=request.data,
        model_context=spec.context_tokens,
    )


def measure_case(request: MeasureRequest) -> Measurement:
    """Load the variant once, then time, meter and (if asked) score it the way its kind is measured."""
    kind = kinds.kind(request.model.kind)
    outputs = Path(request.reference_outputs) if request.reference_outputs else None
    context = _context(
        request,
        request.model,
        write=outputs if request.reference_role == "write" else None,
        read=outputs if request.reference_role == "read" else None,
        score=request.score_accuracy,
    )
    guard_start = read_guards()
    # A CUDA case makes its CUDA context first, alone, so its cost on the board (and in RSS) is not the model's.
    board, _ = read_board_before_load(request.model.device) if is_cuda(request.model.device) else (None, None)
    rss_before_load = current_rss()
    model, load_s, backend, page_cache = _load(request.model, kind, request.threads, request)
    load_memory = current_rss() - rss_before_load
    context = replace(context, rss_before_load=rss_before_load, gpu_before_load=board)
    try:
        first_call = kind.first_call(model, context)
        started = time.perf_counter()
        first_call()
        first_s = time.perf_counter() - started
        readings, warnings, samples, facts = kind.measure(model, context)
        huge_pages = huge_page_use()  # with the model still loaded: how its memory was mapped
    except ValueError as e:  # a non-finite figure from the runtime (Reading and stats refuse them)
        raise CaseFailed(f"unusable measurement: {e}") from None
    finally:
        model.close()
    guard_end = read_guards()
    cold = "harness clock (perf_counter), once per child"
    readings += [
        Reading("load_ms", "ms", load_s * 1000, source=cold),
        Reading("load_memory_bytes", "B", load_memory, source="RSS right after load minus right before (psutil)"),
        Reading("first_inference_ms", "ms", first_s * 1000, source=cold + ", the first call after load"),
    ]
    info = ChildInfo(
        runtime=backend.runtime_version(),
        threads=request.threads,
        kind=kind.name,
        measurement_key=request.measurement_key,
        guard_start=guard_start,
        guard_end=guard_end,
        throttled=throttled(guard_start, guard_end),
        accuracy_scored=request.score_accuracy,
        runtime_settings={**facts.runtime_settings, "page_cache": page_cache},
        timed_s=facts.timed_s + first_s,  # the cold first call is a timed region too
        accuracy_s=facts.accuracy_s,
        flags=(),
        eval_data=request.data,  # each file scored and timed on: path, size, SHA-256, items
        huge_pages=huge_pages,
        lm=facts.lm,
        calls=facts.calls,
        cpu=facts.region.cpu,
        memory=facts.region.memory,
    )
    by_name = {r.name: r for r in readings}
    flags = bottleneck_flags(
        _value(by_name.get("cpu_utilisation")),
        _value(by_name.get("peak_rss_bytes")),
        None if info.cpu is None else info.cpu.memory_available_bytes,
        by_name.get(kind.paired_metric),
        info.throttled,
    )
    info = replace(info, flags=tuple(flags))
    return Measurement(
        case_id=request.case_id,
        readings={r.name: r for r in readings},
        info=info,
        warnings=tuple(warnings),
        round_samples=samples,
    )


def _value(reading: Reading | None) -> float | None:
    return reading.value if reading is not None and reading.available else None


def measure_pairs(request: PairedRequest) -> PairedTiming:
    """Alternate rounds of the variant (V) and its reference (R): V R R V V R ... (or R V V R ...).

    Each pair is two adjacent rounds, and the order flips from one pair to the next, so neither side
    always runs first (warm caches, turbo budget) and drift inside the child cancels pair by pair.
    The side that goes first is also loaded and warmed first: on a quiet 2-core VM the first-loaded side of an
    A/A pair read 2-4% slow under ONNX Runtime and OpenVINO whichever file it was
    (benchmarks/results/aa_paired_quiet.md), so blocks that alternate `first` alternate that too.
    """
    kind = kinds.kind(request.variant.kind)
    first_spec, second_spec = (
        (request.variant, request.reference) if request.first == "variant" else (request.reference, request.variant)
    )
    first_loaded, *_ = _load(first_spec, kind, request.threads, request)
    try:
        second_loaded, *_ = _load(second_spec, kind, request.threads, request)
        variant, reference = (
            (first_loaded, second_loaded) if request.first == "variant" else (second_loaded, first_loaded)
        )
        try:
            rounds = {
                "V": kind.paired_round(variant, _context(request, request.variant)),
                "R": kind.paired_round(reference, _context(request, request.reference)),
            }
            first = "V" if request.first == "variant" else "R"
            second = "R" if first == "V" else "V"
            timing_started = time.perf_counter()
            for _ in range(max(request.workload.warmup_rounds, 1)):  # in the block's order, as the loads
                rounds[first]()
                rounds[second]()
            guard_start = read_guards()
            v_samples: list[float] = []
            r_samples: list[float] = []
            order: list[str] = []
            for i in range(request.pairs):
                pair = first + second
                if i % 2:
                    pair = pair[::-1]
                values = {side: rounds[side]() for side in pair}
                v_samples.append(values["V"])
                r_samples.append(values["R"])
                order.append(pair)
            guard_end = read_guards()
            timed_s = time.perf_counter() - timing_started
        finally:
            second_loaded.close()
    finally:
        first_loaded.close()
    return PairedTiming(
        case_id=request.case_id,
        metric=kind.paired_metric,
        variant=tuple(v_samples),
        reference=tuple(r_samples),
        order=tuple(order),
        guard_start=guard_start,
        guard_end=guard_end,
        timed_s=timed_s,
    )
