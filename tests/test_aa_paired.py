"""A/A calibration of the paired method: a variant paired against a byte-identical copy of itself reads 1.00x.

The speedup gate reads the geometric mean of per-pair ratios from children that alternate the two
sides' rounds (runner.measure_pairs). Paired with a copy of itself, a variant must read 1.00x inside
that interval: a bias here (the idle side's spinning workers taking a core, which side loads first,
how the page cache holds one file and not the other) would be in every speedup verdict. The copy is a
separate file (its own pages), checked byte for byte; the children are the session's own
(benchmarks/aa_paired.py, spinning stopped between sides as the session runs them). A small workload
on all five CPU runtimes: two children of six pairs each, ~13 s per runtime on a quiet two-core machine
(the full record, with and without spinning and with the sides swapped, is
benchmarks/results/aa_paired_quiet_after.md). The interval is the gate's own two-stage one (children,
then pairs), at 99.9%. Like the harness's own between-run rule, the test decides nothing beside heavy
outside work: over `max_outside_load` (20%) of the CPUs busy with other processes during the pairs, it
skips and says what it read.
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import sys
from pathlib import Path

import psutil
import pytest

from benchharness import stats
from benchharness.machine import default_threads
from benchharness.models.prepare import Preparer
from benchharness.models.registry import build_registry
from benchharness.settings import BaselineSettings, Workload, default_cache_dir

# A/A pairs on real runtimes: the fast lane leaves it out.
pytestmark = pytest.mark.e2e

BENCHMARK = Path(__file__).resolve().parents[1] / "benchmarks" / "aa_paired.py"
CONFIDENCE = 0.999


def aa_paired():
    spec = importlib.util.spec_from_file_location("aa_paired", BENCHMARK)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["aa_paired"] = module  # its dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


def busy_and_ours() -> tuple[float, float, float]:
    """(busy, all) CPU seconds of the machine and the CPU seconds of this process and its finished children."""
    times, own = psutil.cpu_times(), os.times()
    everything = sum(getattr(times, f) for f in times._fields if f not in ("guest", "guest_nice"))
    idle = times.idle + getattr(times, "iowait", 0.0)
    return everything - idle, everything, own.user + own.system + own.children_user + own.children_system


def outside_share(before: tuple[float, float, float], after: tuple[float, float, float]) -> float:
    """The share of all CPUs' time that went to other processes between the two readings."""
    busy, total, ours = (a - b for a, b in zip(after, before, strict=True))
    return max(busy - ours, 0.0) / total if total > 0 else 0.0


@pytest.mark.parametrize(
    ("backend", "runtime", "fmt", "label"),
    [
        ("llamacpp", "llama_cpp", "gguf", "q8_0"),
        ("onnxruntime", "onnxruntime", "onnx", "int4"),
        ("onnxruntime-genai", "onnxruntime_genai", "ortgenai", "int4"),
        ("openvino", "openvino", "openvino", "int8"),
        ("openvino-genai", "openvino_genai", "openvino", "int8"),
    ],
)
def test_a_variant_paired_with_a_byte_identical_copy_reads_one(backend, runtime, fmt, label, tmp_path):
    if importlib.util.find_spec(runtime) is None:  # by name: the runtime is imported in the children only
        pytest.skip(f"{runtime} is not installed")
    aa = aa_paired()
    model = build_registry([])["smollm2-135m"]
    variant = Preparer(default_cache_dir(), default_threads(), 1800, print).prepare(model, fmt, label)
    pair = aa.copy_variant(variant.path, tmp_path / "copies", backend)
    args = argparse.Namespace(
        blocks=2,
        pairs=6,
        threads=default_threads(),
        workload=Workload(prompt_tokens=16, gen_tokens=16, min_rounds=1, min_time_s=0),
        tokens=None,
    )
    before = busy_and_ours()
    run = aa.paired(pair, args, True, tmp_path / "jobs")
    outside = outside_share(before, busy_and_ours())
    assert run["pairs"] == 12
    if outside > BaselineSettings().max_outside_load:  # the harness decides no speed move beside this much other work
        pytest.skip(
            f"{outside:.0%} of the CPUs ran other work during the pairs (over max_outside_load "
            f"{BaselineSettings().max_outside_load:.0%}): {backend} read {run['ratio']}x [{run['low']}, {run['high']}]"
        )
    # At 99.9%, not the gate's 95%: an unbiased method misses 1.00 with a 95% interval one run in twenty, which
    # for two backends would fail one CI run in ten; a bias the gate would feel still shows at 99.9% over 12 pairs.
    strict = stats.ratio_interval(run["variant_side_tok_per_s"], run["reference_side_tok_per_s"], CONFIDENCE)
    assert strict.low <= 1.0 <= strict.high, (
        f"{backend} {label} against a copy of itself: {strict.estimate:.3f}x [{strict.low:.3f}, {strict.high:.3f}] "
        f"at {CONFIDENCE:.1%} (95%: [{run['low']}, {run['high']}])"
    )


@pytest.mark.parametrize("stop", [True, False])
def test_onnxruntime_stops_spinning_when_asked_and_says_so(tmp_path, stop):
    onnx = pytest.importorskip("onnx")
    pytest.importorskip("onnxruntime")
    from onnx import TensorProto, helper

    from benchharness.backends.onnxruntime import FORCE_SPINNING_STOP, open_session, spinning_setting

    graph = helper.make_graph(
        [helper.make_node("Identity", ["x"], ["y"])],
        "g",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, [1])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, [1])],
    )
    onnx.save(helper.make_model(graph), str(tmp_path / "model.onnx"))
    session, _ = open_session(tmp_path, "cpu", 1, stop_spinning=stop)
    entries = session.get_session_options().get_session_config_entry
    if stop:
        assert entries(FORCE_SPINNING_STOP) == "1"
        assert "force_spinning_stop=1" in spinning_setting(True)
    else:
        with pytest.raises(Exception, match=FORCE_SPINNING_STOP):
            entries(FORCE_SPINNING_STOP)  # never set: onnxruntime's default
        assert "default" in spinning_setting(False)
