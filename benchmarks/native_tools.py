"""Each runtime's own way of timing generation, run in a fresh process like the harness's child.

    python3 benchmarks/native_tools.py TOOL MODEL_DIR TOKENS_NPY --threads 2 --prompt 128 --gen 64 --reps 5

prints one JSON object: {"prefill_tok_per_s": ..., "decode_tok_per_s": ..., "how": ...}.

- ovgenai: OpenVINO GenAI's LLMPipeline, read from its PerfMetrics (TTFT and TPOT means), prefix
  caching off (otherwise every repetition after the first times a cache hit).
- mlxlm: mlx-lm's stream_generate statistics (prompt_tps, generation_tps), greedy, EOS ignored.
- ortgenai: onnxruntime-genai's generator loop as its own benchmark script (model-benchmark) times
  it: prompt = append_tokens + the first generate_next_token; then one generate_next_token per token.
llama.cpp's own tool is the llama-bench binary (runtime_fidelity.py calls it directly).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np


def ovgenai(model: Path, prompt: list[int], gen: int, threads: int, reps: int) -> dict[str, float | str]:
    import openvino as ov
    import openvino_genai as og

    scheduler = og.SchedulerConfig()
    scheduler.enable_prefix_caching = False
    pipeline = og.LLMPipeline(str(model), "CPU", INFERENCE_NUM_THREADS=threads, scheduler_config=scheduler)
    config = og.GenerationConfig()
    config.max_new_tokens = config.min_new_tokens = gen + 1
    config.ignore_eos = True
    config.do_sample = False
    ids = np.asarray([prompt], dtype=np.int64)
    inputs = og.TokenizedInputs(ov.Tensor(ids), ov.Tensor(np.ones_like(ids)))
    pipeline.generate(inputs, config)  # warm-up
    metrics = None
    for _ in range(reps):
        result = pipeline.generate(inputs, config).perf_metrics
        metrics = result if metrics is None else metrics + result
    assert metrics is not None
    return {
        "prefill_tok_per_s": len(prompt) / (metrics.get_ttft().mean / 1000),
        "decode_tok_per_s": 1000 / metrics.get_tpot().mean,
        "how": "LLMPipeline PerfMetrics: prompt / mean TTFT, 1 / mean TPOT",
    }


def ortgenai(model: Path, prompt: list[int], gen: int, threads: int, reps: int) -> dict[str, float | str]:
    import onnxruntime_genai as og

    config = og.Config(str(model))
    config.overlay(json.dumps({"model": {"decoder": {"session_options": {"intra_op_num_threads": threads}}}}))
    loaded = og.Model(config)
    ids = np.asarray(prompt, dtype=np.int32)
    prompt_s, token_s = [], []
    for rep in range(reps + 1):  # the first is warm-up
        params = og.GeneratorParams(loaded)
        params.set_search_options(do_sample=False, top_k=1, max_length=len(prompt) + gen + 1)
        generator = og.Generator(loaded, params)
        start = time.perf_counter()
        generator.append_tokens(ids)
        generator.generate_next_token()
        generator.get_next_tokens()
        first = time.perf_counter()
        steps = []
        for _ in range(gen):
            step = time.perf_counter()
            generator.generate_next_token()
            generator.get_next_tokens()
            steps.append(time.perf_counter() - step)
        if rep:
            prompt_s.append(first - start)
            token_s.append(sum(steps) / gen)
        del generator
    return {
        "prefill_tok_per_s": len(prompt) / float(np.mean(prompt_s)),
        "decode_tok_per_s": 1 / float(np.mean(token_s)),
        "how": "onnxruntime-genai generator loop (model-benchmark's timing): prompt / mean prompt time, 1 / mean token time",
    }


def mlxlm(model: Path, prompt: list[int], gen: int, threads: int, reps: int) -> dict[str, float | str]:
    """mlx-lm's own generation statistics (stream_generate's prompt_tps and generation_tps), greedy."""
    from mlx_lm import load, stream_generate

    loaded, tokenizer = load(str(model))
    tokenizer._eos_token_ids = set()  # decode exactly `gen` tokens, as the harness does
    prompt_tps, generation_tps = [], []
    for rep in range(reps + 1):  # the first is warm-up
        last = None
        for last in stream_generate(loaded, tokenizer, prompt, max_tokens=gen + 1):  # noqa: B007
            pass
        assert last is not None
        if rep:
            prompt_tps.append(last.prompt_tps)
            generation_tps.append(last.generation_tps)
    return {
        "prefill_tok_per_s": float(np.mean(prompt_tps)),
        "decode_tok_per_s": float(np.mean(generation_tps)),
        "how": "mlx_lm.stream_generate statistics: mean prompt_tps and generation_tps",
    }


TOOLS = {"ovgenai": ovgenai, "ortgenai": ortgenai, "mlxlm": mlxlm}


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("tool", choices=sorted(TOOLS))
    parser.add_argument("model", type=Path)
    parser.add_argument("tokens", type=Path)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--prompt", type=int, default=128)
    parser.add_argument("--gen", type=int, default=64)
    parser.add_argument("--reps", type=int, default=5)
    args = parser.parse_args()
    prompt = np.load(args.tokens)[: args.prompt].astype(int).tolist()
    print(json.dumps(TOOLS[args.tool](args.model, prompt, args.gen, args.threads, args.reps)))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
