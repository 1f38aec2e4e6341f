"""Our KL statistics against `llama-perplexity --kl-divergence` on the same GGUF pair and the same windows.

llama-perplexity tokenizes the corpus file, cuts it into consecutive chunks of n_ctx tokens, and
scores the second half of each chunk: first against the base model (--kl-divergence-base writes its
log-probabilities, quantized to 16 bits), then the quant. Here the harness's llama.cpp backend
scores the same chunks of the model's shared corpus tokens with both models, and
benchharness.tasks.divergence computes the statistics. Both tables are written side by side; the
differences left are llama-perplexity's 16-bit storage of the base log-probabilities.

    bash benchmarks/build_llama_bench.sh /tmp/llama-build   # builds llama-perplexity beside llama-bench
    python3 benchmarks/kld_vs_llama_perplexity.py --llama-perplexity /tmp/llama-build/build/bin/llama-perplexity
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from benchharness.backends.base import LoadOptions
from benchharness.backends.llamacpp import LlamaCppBackend
from benchharness.models.prepare import Preparer
from benchharness.models.registry import builtin_models
from benchharness.settings import default_cache_dir
from benchharness.tasks.divergence import KlStatistics, concatenate, per_token, summarize
from benchharness.tasks.next_token import corpus_text, log_softmax

# (label in llama-perplexity's output, how to read ours, scale for display)
ROWS = [
    ("Mean ln(PPL(Q)/PPL(base))", lambda s: (s.ln_ppl_ratio.value, s.ln_ppl_ratio.uncertainty), 1.0),
    ("Mean    KLD", lambda s: (s.mean_kld.value, s.mean_kld.uncertainty), 1.0),
    ("Maximum KLD", lambda s: (s.kld_percentiles["max"], None), 1.0),
    ("99.9%   KLD", lambda s: (s.kld_percentiles["99.9"], None), 1.0),
    ("99.0%   KLD", lambda s: (s.kld_percentiles["99"], None), 1.0),
    ("95.0%   KLD", lambda s: (s.kld_percentiles["95"], None), 1.0),
    ("90.0%   KLD", lambda s: (s.kld_percentiles["90"], None), 1.0),
    ("Median  KLD", lambda s: (s.kld_percentiles["50"], None), 1.0),
    ("Mean    Δp", lambda s: (s.mean_delta_p.value, s.mean_delta_p.uncertainty), 100.0),
    ("RMS Δp    ", lambda s: (s.rms_delta_p.value, s.rms_delta_p.uncertainty), 100.0),
    ("Same top p", lambda s: (s.same_top.value, s.same_top.uncertainty), 100.0),
]
NUMBER = r"(-?[0-9.]+)"


def theirs(output: str) -> dict[str, tuple[float, float | None]]:
    """llama-perplexity's summary figures, as printed (percent rows in percent)."""
    found = {}
    for label, _, _ in ROWS:
        match = re.search(re.escape(label.strip()) + r"\s*:\s*" + NUMBER + r"(?:\s*±\s*" + NUMBER + ")?", output)
        if match:
            found[label] = (float(match.group(1)), float(match.group(2)) if match.group(2) else None)
    return found


def ours(base: Path, quant: Path, tokens: np.ndarray, n_ctx: int, chunks: int, threads: int) -> KlStatistics:
    options = LoadOptions(threads=threads, n_ctx=n_ctx, n_batch=n_ctx)
    first = n_ctx // 2
    windows = [tokens[i * n_ctx : (i + 1) * n_ctx] for i in range(chunks)]
    rows = {}
    for name, path in (("base", base), ("quant", quant)):
        model = LlamaCppBackend().load(path, "cpu", options)
        try:
            rows[name] = [log_softmax(model.score(w.tolist(), first)) for w in windows]
        finally:
            model.close()
    parts = [per_token(q, b, w[first + 1 :]) for q, b, w in zip(rows["quant"], rows["base"], windows, strict=True)]
    return summarize(concatenate(parts))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--llama-perplexity", required=True)
    parser.add_argument("--base", default="f32")
    parser.add_argument("--quant", default="q4_0")
    parser.add_argument("--n-ctx", type=int, default=512)
    parser.add_argument("--chunks", type=int, default=12)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path, default=Path(__file__).parent / "results" / "kld_vs_llama_perplexity.md")
    args = parser.parse_args()

    model = builtin_models()["smollm2-135m"]
    preparer = Preparer(default_cache_dir(), args.threads, 1800, lambda m: print(m, file=sys.stderr))
    base, quant = (preparer.prepare(model, "gguf", label).path for label in (args.base, args.quant))
    tokens_variant = preparer.corpus_tokens(model)
    assert tokens_variant is not None
    tokens = np.load(tokens_variant.path).astype(np.int64)

    with tempfile.TemporaryDirectory() as scratch:
        text, kld_base = Path(scratch) / "corpus.txt", Path(scratch) / "base.kld"
        text.write_text(corpus_text())
        common = ["-c", str(args.n_ctx), "--chunks", str(args.chunks), "-t", str(args.threads), "-b", str(args.n_ctx)]
        subprocess.run(
            [args.llama_perplexity, "-m", str(base), "-f", str(text), "--kl-divergence-base", str(kld_base), *common],
            capture_output=True,
            text=True,
            check=True,
        )
        run = subprocess.run(
            [
                args.llama_perplexity,
                "-m",
                str(quant),
                "--kl-divergence-base",
                str(kld_base),
                "--kl-divergence",
                *common,
            ],
            capture_output=True,
            text=True,
            check=True,
        )
    reference = theirs(run.stdout + run.stderr)
    stats = ours(base, quant, tokens, args.n_ctx, args.chunks, args.threads)

    lines = [
        "# KL statistics: benchharness vs llama-perplexity --kl-divergence",
        "",
        f"SmolLM2-135M GGUF {args.quant} against {args.base}, {args.chunks} chunks of n_ctx={args.n_ctx} of the corpus "
        f"(`pydoc_data.topics`), second half of each chunk scored: {stats.count} positions. Command:",
        "",
        "```",
        f"python3 benchmarks/kld_vs_llama_perplexity.py --llama-perplexity {args.llama_perplexity} "
        f"--base {args.base} --quant {args.quant} --n-ctx {args.n_ctx} --chunks {args.chunks}",
        "```",
        "",
        "| statistic | llama-perplexity | benchharness | difference |",
        "|---|---:|---:|---:|",
    ]
    worst = 0.0
    for label, read, scale in ROWS:
        value, uncertainty = read(stats)
        mine = f"{value * scale:.6f}" + (f" ± {uncertainty * scale:.6f}" if uncertainty is not None else "")
        if label not in reference:
            lines.append(f"| {label.strip()} | (not printed) | {mine} | |")
            continue
        their_value, their_uncertainty = reference[label]
        shown = f"{their_value:.6f}" + (f" ± {their_uncertainty:.6f}" if their_uncertainty is not None else "")
        difference = value * scale - their_value
        worst = max(worst, abs(difference))
        lines.append(f"| {label.strip()} | {shown} | {mine} | {difference:+.6f} |")
    unit_note = "Δp and same-top rows are in percent, as llama-perplexity prints them."
    lines += ["", unit_note, f"Largest absolute difference: {worst:.6f}.", ""]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text("\n".join(lines))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
