"""Does each harness row show what the runtime delivers as deployed? Harness vs every runtime's own tool.

For every variant, alternate the harness's measurement child (the suites' own, timing only) and the
runtime's own tool on the same file, machine, threads and token counts; several trials each; the
order flips every trial so drift falls on both sides; compare medians of the trials:

| harness backend   | files                           | the runtime's own tool                                   |
|-------------------|---------------------------------|----------------------------------------------------------|
| llamacpp          | GGUF (every variant)            | llama-bench `-p P -n 0` and `-p 0 -n G -d P`              |
| openvino-genai    | OpenVINO IR                     | LLMPipeline PerfMetrics (TTFT, TPOT)                     |
| onnxruntime-genai | onnxruntime-genai builder model | onnxruntime-genai's generator loop (model-benchmark)     |
| openvino          | OpenVINO IR (FP32 pinned)       | LLMPipeline on the same IR: context, not a fidelity row  |
| onnxruntime       | optimum's generic export        | onnxruntime-genai on its builder's model of the same     |
|                   |                                 | weights: context (how far the generic export is behind)  |

Fidelity target: harness / tool >= 0.95 for decode and prefill on the first three. The prompt is
the corpus's first P tokens of the model's shared tokenization for both sides (llama-bench uses
random tokens; speed does not depend on which).

    bash benchmarks/build_llama_bench.sh /tmp/llama-build
    python3 benchmarks/runtime_fidelity.py --llama-bench /tmp/llama-build/build/bin/llama-bench

On an NVIDIA GPU (`--device cuda` or `cuda:N`) both sides offload every layer to that one board: the
harness's child as its CUDA cases do (split mode none, main GPU N), llama-bench with `-ngl 99 -sm none -mg N`
(benchmarks/gpu/device_check.sh runs it so on a lent GPU, with the llama-bench of the same CUDA build).
"""

from __future__ import annotations

import argparse
import json
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

from benchharness.backends import import_path, registry
from benchharness.evaldata import EvalData
from benchharness.gpus import gpus_here, split_device
from benchharness.isolation import run_job
from benchharness.machine import fingerprint
from benchharness.models.prepare import Preparer
from benchharness.models.registry import builtin_models
from benchharness.protocol import MeasureRequest, ModelSpec
from benchharness.readings import Measurement
from benchharness.settings import AccuracySettings, Workload, default_cache_dir

HERE = Path(__file__).parent


@dataclass(frozen=True)
class Pair:
    backend: str
    fmt: str
    quants: tuple[str, ...]
    tool: str  # llama-bench | ovgenai | ortgenai
    tool_fmt: str  # the format the tool runs (the same files, except the generic-export context row)
    fidelity: bool  # a fidelity row (target >= 0.95) or context
    prompt: int | None = None  # this runtime's own token counts, where its suite has its own workload
    gen: int | None = None


PAIRS = (
    Pair("llamacpp", "gguf", ("f32", "f16", "q8_0", "q4_k_m", "q4_1", "q4_0"), "llama-bench", "gguf", True),
    Pair("openvino-genai", "openvino", ("fp32", "int8", "int4"), "ovgenai", "openvino", True),
    Pair("onnxruntime-genai", "ortgenai", ("fp32", "int8", "int4"), "ortgenai", "ortgenai", True),
    Pair("openvino", "openvino", ("fp32", "int8", "int4"), "ovgenai", "openvino", False),
    Pair("onnxruntime", "onnx", ("fp32", "int8", "int4"), "ortgenai", "ortgenai", False),
    # MLX's Linux CPU build is slow (no BLAS, emulated fp16): its suite's short workload, as in pyproject.
    Pair("mlx", "mlx", ("fp32", "4bit"), "mlxlm", "mlx", True, prompt=16, gen=8),
)


def harness(
    backend: str, path: Path, tokens: Path, threads: int, prompt: int, gen: int, reps: int, device: str = "cpu"
) -> dict[str, float]:
    cls = registry()[backend]
    request = MeasureRequest(
        case_id=f"{backend}-{path.name}",
        measurement_key=f"fidelity-{backend}-{path.name}",
        model=ModelSpec(import_path(cls), cls.runtime_module, device, "causal-lm", str(path), 0),
        threads=threads,
        workload=Workload(
            prompt_tokens=prompt, gen_tokens=gen, warmup_rounds=1, min_rounds=reps, max_rounds=reps, min_time_s=0.0
        ),
        accuracy=AccuracySettings(n_ctx=64, windows=1),
        score_accuracy=False,
        reference_outputs=None,
        reference_role="none",
        corpus_tokens=str(tokens),
        data=EvalData(),  # the built-in corpus the tokens were made from
    )
    readings = Measurement.from_dict(
        run_job(request, timeout_s=900, label=request.case_id, work_dir=default_cache_dir() / "jobs")
    ).readings
    return {name: float(readings[name].value or 0) for name in ("prefill_tok_per_s", "decode_tok_per_s")}


def gpu_line(device: str) -> str:
    """', on NVIDIA H200 (141 GiB, compute capability 9.0), driver 580.x' for a CUDA device, else ''."""
    kind, index = split_device(device)
    if kind != "cuda":
        return ""
    boards, why = gpus_here()
    board = next((b for b in boards if b.index == index), None)
    if board is None:
        return f", on {device} (not described: {why or 'NVML lists no such board'})"
    return f", on {board.describe()}, driver {board.driver_version}"


def llama_bench_offload(device: str) -> list[str]:
    """llama-bench's flags for the harness's device: none on a CPU; every layer on the one board on CUDA."""
    kind, index = split_device(device)
    if kind == "cpu":
        return ["-ngl", "0"]
    if kind == "cuda":
        return ["-ngl", "99", "-sm", "none", "-mg", str(index)]
    raise SystemExit(f"--device {device!r}: llama-bench is compared on cpu or cuda[:N] only")


def llama_bench(
    binary: str, path: Path, threads: int, prompt: int, gen: int, reps: int, device: str = "cpu"
) -> dict[str, float]:
    def run(*args: str) -> float:
        command = [binary, "-m", str(path), "-t", str(threads), "-r", str(reps), "-o", "json"]
        command += [*llama_bench_offload(device), *args]
        (result,) = json.loads(subprocess.run(command, capture_output=True, text=True, check=True).stdout)
        return float(result["avg_ts"])

    return {
        "prefill_tok_per_s": run("-p", str(prompt), "-n", "0"),
        "decode_tok_per_s": run("-p", "0", "-n", str(gen), "-d", str(prompt)),
    }


def native(tool: str, path: Path, tokens: Path, threads: int, prompt: int, gen: int, reps: int) -> dict[str, float]:
    command = [sys.executable, str(HERE / "native_tools.py"), tool, str(path), str(tokens)]
    command += ["--threads", str(threads), "--prompt", str(prompt), "--gen", str(gen), "--reps", str(reps)]
    out = json.loads(subprocess.run(command, capture_output=True, text=True, check=True).stdout.splitlines()[-1])
    return {k: float(out[k]) for k in ("prefill_tok_per_s", "decode_tok_per_s")}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--llama-bench", required=True, help="llama.cpp's llama-bench (build_llama_bench.sh)")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--prompt", type=int, default=128)
    parser.add_argument("--gen", type=int, default=64)
    parser.add_argument("--reps", type=int, default=5, help="repetitions inside each trial (both sides)")
    parser.add_argument("--trials", type=int, default=3, help="alternating trials per side and variant")
    parser.add_argument("--backends", default=",".join(p.backend for p in PAIRS))
    parser.add_argument("--quants", default="", help="only these variants (comma-separated); default: every one")
    parser.add_argument("--out", type=Path, default=HERE / "results" / "runtime_fidelity.md")
    parser.add_argument("--device", default="cpu", help="cpu, or cuda[:N] (llama.cpp rows only): both sides offload")
    args = parser.parse_args()

    model = builtin_models()["smollm2-135m"]
    preparer = Preparer(default_cache_dir(), args.threads, 1800, lambda line: print(line, file=sys.stderr))
    tokens_variant = preparer.corpus_tokens(model)
    assert tokens_variant is not None
    tokens = tokens_variant.path
    chosen = args.backends.split(",")
    rows, raw = [], []
    started = time.time()
    for pair in (p for p in PAIRS if p.backend in chosen):
        for quant in (q for q in pair.quants if not args.quants or q in args.quants.split(",")):
            path = preparer.prepare(model, pair.fmt, quant).path
            tool_path = preparer.prepare(model, pair.tool_fmt, quant).path
            sides: dict[str, list[dict[str, float]]] = {"harness": [], "tool": []}
            prompt, gen = pair.prompt or args.prompt, pair.gen or args.gen
            for trial in range(args.trials):
                order = ("harness", "tool") if trial % 2 == 0 else ("tool", "harness")
                for side in order:
                    if side == "harness":
                        figures = harness(
                            pair.backend, path, tokens, args.threads, args.prompt, args.gen, args.reps, args.device
                        )
                    elif pair.tool == "llama-bench":
                        figures = llama_bench(
                            args.llama_bench, tool_path, args.threads, args.prompt, args.gen, args.reps, args.device
                        )
                    else:
                        figures = native(pair.tool, tool_path, tokens, args.threads, args.prompt, args.gen, args.reps)
                    sides[side].append(figures)
                print(
                    f"{pair.backend} {quant} trial {trial}: {sides['harness'][-1]} vs {sides['tool'][-1]}",
                    file=sys.stderr,
                )
            median = {
                side: {k: statistics.median(t[k] for t in trials) for k in ("prefill_tok_per_s", "decode_tok_per_s")}
                for side, trials in sides.items()
            }
            rows.append((pair, quant, median, sides, f"pp{prompt}+tg{gen}"))
            raw.append({"backend": pair.backend, "quant": quant, "tool": pair.tool, "fidelity": pair.fidelity, **sides})

    machine = fingerprint()
    lines = [
        "# Harness vs each runtime's own tool (generated by benchmarks/runtime_fidelity.py)",
        "",
        f"Machine: {machine['cpu']} ({'/'.join(machine.get('isa', []))}), {machine['logical_cores']} logical cores, "
        f"{machine['memory_gib']} GiB{gpu_line(args.device)}. threads={args.threads}, prompt={args.prompt}, gen={args.gen}; "
        f"{args.reps} repetitions per trial, {args.trials} alternating trials per side; medians over trials. "
        f"Wall time {time.time() - started:.0f} s. Command:",
        "",
        "```",
        f"python3 benchmarks/runtime_fidelity.py --llama-bench {args.llama_bench} --threads {args.threads} "
        f"--prompt {args.prompt} --gen {args.gen} --reps {args.reps} --trials {args.trials} --backends {args.backends}"
        + (f" --quants {args.quants}" if args.quants else "")
        + (f" --device {args.device}" if args.device != "cpu" else "")
        + (f" --out {args.out}" if args.out != HERE / "results" / "runtime_fidelity.md" else ""),
        "```",
        "",
        "| harness backend | variant | own tool | row | tool decode tok/s | harness decode tok/s | decode ratio "
        "| tool prefill tok/s | harness prefill tok/s | prefill ratio | decode trials (tool / harness) |",
        "|---|---|---|---|---:|---:|---:|---:|---:|---:|---|",
    ]
    for pair, quant, m, sides, tokens_label in rows:
        trials = ", ".join(
            f"{t['decode_tok_per_s']:.0f}/{h['decode_tok_per_s']:.0f}"
            for t, h in zip(sides["tool"], sides["harness"], strict=True)
        )
        tool_d, h_d = m["tool"]["decode_tok_per_s"], m["harness"]["decode_tok_per_s"]
        tool_p, h_p = m["tool"]["prefill_tok_per_s"], m["harness"]["prefill_tok_per_s"]
        kind = "fidelity" if pair.fidelity else "context"
        lines.append(
            f"| {pair.backend} | {quant} ({tokens_label}) | {pair.tool} | {kind} | {tool_d:.1f} | {h_d:.1f} | {h_d / tool_d:.3f} "
            f"| {tool_p:.0f} | {h_p:.0f} | {h_p / tool_p:.3f} | {trials} |"
        )
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines) + "\n")
    args.out.with_suffix(".json").write_text(json.dumps(raw, indent=1) + "\n")
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
