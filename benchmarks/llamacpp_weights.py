"""How llama.cpp holds its weights, and how steady decode is from one child to the next.

    python benchmarks/llamacpp_weights.py --children 4 --quants f32 q8_0 q4_0

A speedup gate pairs a variant with its reference inside children; if the reference's decode speed
moves from one child to the next by more than the gate's margin, the gate's verdict flips on unchanged
code. On a Linux 6.18 VM the default suite's F32 reference decoded 63 to 97 tok/s between children
with every load cold (benchmarks/results/aa_stability_full.md). llama.cpp memory-maps a GGUF by default
and computes on the page cache's own pages; how big those pages are (2 MiB folios mapped whole by the
PMD, or 4 KiB pages) depends on how the kernel's readahead brought them in. This measures whether that
is the cause (it was not: benchmarks/results/aa_stability_nommap.md), in fresh children
alternating the modes, each after dropping the file's cached pages (page_cache.py):

- `mmap`: llama.cpp's default load (memory-mapped, the kernel faults the pages in);
- `mmap-read`: the file read once sequentially (16 MiB reads) before the memory-mapped load;
- `none`: llama.cpp's no-mmap load (`load_mode = LLAMA_LOAD_MODE_NONE`): weights read into its own
  (anonymous) buffers.

Per child: the median decode tok/s of `--rounds` tg64 rounds after a 32-token prefill (2 threads), and
how much of the process's memory was mapped in 2 MiB pages (FilePmdMapped, AnonHugePages from
/proc/self/smaps_rollup). Writes benchmarks/results/llamacpp_weights.json and .md.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchharness.meters.huge_pages import huge_page_use  # noqa: E402
from benchharness.page_cache import drop_cached_pages  # noqa: E402
from benchharness.settings import default_cache_dir  # noqa: E402
from benchharness.typed_json import write  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"
MODES = ("mmap", "mmap-read", "none")
PROMPT = "The quick brown fox jumps over the lazy dog. " * 4


def child(mode: str, path: Path, rounds: int, threads: int) -> dict[str, object]:
    """One cold load in `mode` and `rounds` timed tg64 rounds: what the parent records for this child."""
    import llama_cpp as ll

    from benchharness.backends.base import LoadOptions
    from benchharness.backends.llamacpp import LlamaCppModel

    drop_cached_pages(path)
    if mode == "mmap-read":
        with path.open("rb", buffering=0) as f:
            while f.read(16 * 2**20):
                pass
    default_params = ll.llama_model_default_params
    mode_value = ll.LLAMA_LOAD_MODE_NONE if mode == "none" else ll.LLAMA_LOAD_MODE_MMAP

    def params() -> object:
        p = default_params()
        p.load_mode = mode_value
        return p

    ll.llama_model_default_params = params
    model = LlamaCppModel(path, "cpu", LoadOptions(threads=threads, n_ctx=256, n_batch=64))
    prompt = model.tokenize(PROMPT)[:32]
    speeds = []
    for _ in range(rounds + 1):  # the first round warms up and is not counted
        token = model.prefill(prompt)
        start = time.perf_counter()
        for _ in range(64):
            token = model.decode(token)
        speeds.append(64 / (time.perf_counter() - start))
    huge = write(huge_page_use()) or {}  # the keys each reply's info.huge_pages holds
    model.close()
    return {"mode": mode, "tok_per_s": statistics.median(speeds[1:]), "rounds": speeds[1:], **huge}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--children", type=int, default=4, help="children per mode and quant (alternated)")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--quants", nargs="+", default=["f32", "q8_0", "q4_0"])
    parser.add_argument("--name", default="llamacpp_weights")
    parser.add_argument("--child", nargs=2, metavar=("MODE", "GGUF"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child[0], Path(args.child[1]), args.rounds, args.threads)))
        return
    folder = default_cache_dir() / "gguf" / "smollm2-135m"
    rows: list[dict[str, object]] = []
    started = time.time()
    load_before = os.getloadavg()[0]
    for quant in args.quants:
        files = sorted(folder.glob(f"{quant}-*.gguf"))
        if not files:
            sys.exit(f"no prepared {quant} GGUF in {folder}: run the smollm2-llamacpp suite once to prepare it")
        for i in range(args.children):
            order = MODES if i % 2 == 0 else tuple(reversed(MODES))
            for mode in order:
                command = [sys.executable, __file__, "--rounds", str(args.rounds), "--threads", str(args.threads)]
                done = subprocess.run([*command, "--child", mode, str(files[-1])], capture_output=True, text=True)
                if done.returncode != 0:
                    sys.exit(f"child {mode} {quant} failed: {done.stderr[-2000:]}")
                row = json.loads(done.stdout.strip().splitlines()[-1])
                rows.append({"quant": quant, "child": i, **row})
                print(
                    quant,
                    i,
                    mode,
                    f"{row['tok_per_s']:.1f} tok/s",
                    f"FilePmdMapped {row.get('file_pmd_mib', 0):.0f} MiB",
                )
    wall = time.time() - started
    ran = "python3 benchmarks/llamacpp_weights.py " + " ".join(sys.argv[1:])
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{args.name}.json").write_text(json.dumps({"ran": ran, "rows": rows}, indent=1))
    lines = [
        "# llama.cpp: how the weights are held, and decode's spread between children",
        "",
        f"Ran: `{ran}` ({wall / 60:.1f} min; load average {load_before:.2f} before, "
        f"{os.getloadavg()[0]:.2f} after). Each child: drop the GGUF's cached pages, load in the mode, "
        f"1 warm-up + {args.rounds} rounds of tg64 after a 32-token prefill, {args.threads} threads; the "
        "modes alternate child by child.",
        "",
        "| quant | mode | children | median tok/s per child | min-max | max/min | FilePmdMapped MiB | AnonHugePages MiB |",
        "|---|---|---:|---|---|---:|---|---|",
    ]
    for quant in args.quants:
        for mode in MODES:
            mine = [r for r in rows if r["quant"] == quant and r["mode"] == mode]
            speeds = [float(r["tok_per_s"]) for r in mine]  # type: ignore[arg-type]
            pmd = ", ".join(f"{float(r.get('file_pmd_mib', 0)):.0f}" for r in mine)  # type: ignore[arg-type]
            anon = ", ".join(f"{float(r.get('anon_huge_mib', 0)):.0f}" for r in mine)  # type: ignore[arg-type]
            lines.append(
                f"| {quant} | {mode} | {len(speeds)} | {', '.join(f'{s:.1f}' for s in speeds)} | "
                f"{min(speeds):.1f}-{max(speeds):.1f} | {max(speeds) / min(speeds):.2f} | {pmd} | {anon} |"
            )
    (RESULTS / f"{args.name}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
