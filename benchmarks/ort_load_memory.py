"""ONNX Runtime's load memory from one process to the next, with and without weight prepacking.

    python benchmarks/ort_load_memory.py --processes 6

Issue 21's quiet A/A read SmolLM2's FP32 generic ONNX export at 742, 756 and 978 MiB of model memory in
three runs of unchanged code, which moved the INT4 memory cut across its 50% line. This loads the same
prepared FP32 variant (with the harness's own session options, backends/onnxruntime.open_session) in fresh
processes, alternating ONNX Runtime's default (weights prepacked for MLAS when the session is made) with
`session.disable_prepacking = 1`, and records the RSS the load added. Writes
benchmarks/results/ort_load_memory.json and .md.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchharness.settings import default_cache_dir  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"
MODES = ("default", "no-prepacking")


def child(mode: str, path: Path) -> float:
    """MiB of RSS one session load of `path` adds, in this fresh process."""
    import onnxruntime as ort
    import psutil

    from benchharness.backends import onnxruntime as backend

    if mode == "no-prepacking":
        made = ort.SessionOptions

        def options() -> ort.SessionOptions:
            o = made()
            o.add_session_config_entry("session.disable_prepacking", "1")
            return o

        ort.SessionOptions = options  # type: ignore[misc,assignment]  # open_session makes its options from it
    before = psutil.Process().memory_info().rss
    session, _ = backend.open_session(path, "cpu", 2, last_logits=True)
    added = psutil.Process().memory_info().rss - before
    del session
    return added / 2**20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--processes", type=int, default=6, help="fresh processes per mode (alternated)")
    parser.add_argument("--name", default="ort_load_memory")
    parser.add_argument("--child", nargs=2, metavar=("MODE", "PATH"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child[0], Path(args.child[1]))))
        return
    variants = sorted(p for p in (default_cache_dir() / "onnx" / "smollm2-135m").glob("fp32-*") if p.is_dir())
    variants = [p for p in variants if not p.name.endswith(".last-logits")]
    if not variants:
        sys.exit("no prepared FP32 ONNX export of smollm2-135m: run the smollm2-onnxruntime suite once to prepare it")
    added: dict[str, list[float]] = {m: [] for m in MODES}
    started = time.time()
    for i in range(args.processes):
        for mode in MODES if i % 2 == 0 else tuple(reversed(MODES)):
            command = [sys.executable, __file__, "--child", mode, str(variants[-1])]
            done = subprocess.run(command, capture_output=True, text=True, check=True)
            added[mode].append(round(float(done.stdout.strip().splitlines()[-1]), 1))
            print(mode, added[mode][-1], "MiB")
    ran = "python3 benchmarks/ort_load_memory.py " + " ".join(sys.argv[1:])
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / f"{args.name}.json").write_text(json.dumps({"ran": ran, "added_mib": added}, indent=1))
    import onnxruntime

    lines = [
        "# ONNX Runtime: load memory of SmolLM2's FP32 export, process to process",
        "",
        f"Ran: `{ran}` ({(time.time() - started) / 60:.1f} min, load average {os.getloadavg()[0]:.2f} after; "
        f"onnxruntime {onnxruntime.__version__}, 2 intra-op threads, the harness's session options and last-logits "
        f"graph). RSS added by creating the session, per fresh process, modes alternated:",
        "",
        "| mode | processes | MiB added per process | min-max |",
        "|---|---:|---|---|",
    ]
    for mode, values in added.items():
        lines.append(
            f"| {mode} | {len(values)} | {', '.join(f'{v:.0f}' for v in values)} | {min(values):.0f}-{max(values):.0f} |"
        )
    (RESULTS / f"{args.name}.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
