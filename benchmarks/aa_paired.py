"""A/A calibration of the paired method: a variant paired against a byte-identical copy of itself.

    python benchmarks/aa_paired.py --blocks 4 --pairs 6

A speedup gate reads the geometric mean of per-pair ratios (variant / reference) from children that
hold both models and alternate their rounds (runner.measure_pairs). Against a copy of itself a
variant must read 1.00x inside that interval; anything else is a bias of the method, not of the
variant. For each backend this copies one prepared SmolLM2 variant (its folder or file, and the
ONNX last-logits graph beside it) into a scratch folder, checks the copy's SHA-256, and runs:

- paired blocks (`--blocks` children of `--pairs` pairs, alternating which side goes first, as the
  session does) with the runtime's spinning stopped between sides (the default, LoadOptions) and,
  with `--without`, once more with the runtime's default spinning;
- solo: each side alone in its own child (no accuracy), the ratio of their mean decode tok/s.

Machine load (load average, the share of all CPUs busy over the run from /proc/stat) is recorded:
the figures are only as steady as the machine. Writes benchmarks/results/aa_paired.json and .md.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shlex
import shutil
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchharness import backends, stats  # noqa: E402
from benchharness.evaldata import EvalData  # noqa: E402
from benchharness.isolation import run_job  # noqa: E402
from benchharness.machine import default_threads  # noqa: E402
from benchharness.models.sizes import file_sizes  # noqa: E402
from benchharness.protocol import MeasureRequest, ModelSpec, PairedRequest, PairedTiming, decode  # noqa: E402
from benchharness.settings import AccuracySettings, Workload, default_cache_dir  # noqa: E402

RESULTS = ROOT / "benchmarks" / "results"
MODEL = "smollm2-135m"
# backend -> (format folder in the cache, the variant's name prefix): the cheapest variant of each.
VARIANTS = {
    "onnxruntime": ("onnx", "int4-"),
    "onnxruntime-genai": ("ortgenai", "int4-"),
    "llamacpp": ("gguf", "q8_0-"),
    "openvino": ("openvino", "int8-"),
    "openvino-genai": ("openvino", "int8-"),
}
# Backends whose spinning the harness can stop (LoadOptions.stop_spinning); on the others the setting
# changes nothing (runtime_settings.spinning says why), so `--without` pairs only these again.
SPIN_KNOB = ("onnxruntime", "onnxruntime-genai")


@dataclass(frozen=True)
class Pair:
    backend: str
    original: Path
    copy: Path
    digest: str


def find_variant(cache: Path, backend: str) -> Path:
    """The prepared variant this benchmark uses for `backend` (a .gguf file or a folder), or a one-line error."""
    folder, prefix = VARIANTS[backend]
    found = sorted(
        p
        for p in (cache / folder / MODEL).glob(prefix + "*")
        if not p.name.endswith((".json", ".lock", ".last-logits")) and (p.is_dir() or p.suffix == ".gguf")
    )
    if not found:
        raise SystemExit(
            f"no prepared {prefix.rstrip('-')} variant of {MODEL} for {backend} in {cache / folder / MODEL}; "
            "run the smollm2 suite once (it prepares the variants), then this benchmark"
        )
    return found[0]


def digest(path: Path) -> str:
    """SHA-256 over every file under `path` (names and bytes), so a copy is proven byte-identical."""
    h = hashlib.sha256()
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    for f in files:
        h.update(str(f.relative_to(path) if path.is_dir() else f.name).encode())
        with f.open("rb") as stream:
            while chunk := stream.read(1 << 22):
                h.update(chunk)
    return h.hexdigest()


def copy_variant(original: Path, scratch: Path, backend: str) -> Pair:
    """A byte-identical copy of the variant (and its prepared last-logits graph) under `scratch`."""
    target = scratch / backend
    target.mkdir(parents=True, exist_ok=True)
    copy = target / original.name
    for source in (original, original.with_name(original.name + ".last-logits")):
        if source.is_dir():
            shutil.copytree(source, target / source.name, dirs_exist_ok=True)
        elif source.is_file():
            shutil.copy2(source, target / source.name)
    # Written back to disk before timing: writeback of fresh dirty pages would take CPU from the copy's side.
    os.sync()
    made, wanted = digest(copy), digest(original)
    if made != wanted:
        raise SystemExit(f"the copy of {original} differs from it ({made} != {wanted}); check the disk")
    return Pair(backend, original, copy, wanted)


def spec(backend: str, path: Path) -> ModelSpec:
    cls = backends.registry()[backend]
    return ModelSpec(
        backend=backends.import_path(cls),
        runtime_module=cls.runtime_module,
        device="cpu",
        kind="causal-lm",
        path=str(path),
        file_bytes=file_sizes(path).weights_bytes,
    )


def cpu_busy() -> tuple[int, int]:
    """(busy, total) jiffies over all CPUs from /proc/stat: the machine's load, ours included."""
    fields = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = fields[3] + fields[4]
    return sum(fields) - idle, sum(fields)


def paired(pair: Pair, args: argparse.Namespace, stop_spinning: bool, work: Path, swap: bool = False) -> dict[str, Any]:
    """`--blocks` paired children (the copy as the variant, or with `swap` the original); the gate's interval.

    The ratio is always variant side / reference side, as a gate reads it: a bias that follows the role
    (loaded first, named V) stays on the same side of 1 when swapped; one that follows the file flips.
    """
    copies: list[float] = []
    originals: list[float] = []
    variant, reference = (pair.original, pair.copy) if swap else (pair.copy, pair.original)
    for block in range(args.blocks):
        request = PairedRequest(
            case_id=f"aa-{pair.backend}",
            variant=spec(pair.backend, variant),
            reference=spec(pair.backend, reference),
            threads=args.threads,
            workload=args.workload,
            accuracy=AccuracySettings(),
            pairs=args.pairs,
            first="variant" if block % 2 == 0 else "reference",
            corpus_tokens=str(args.tokens) if args.tokens else None,
            data=EvalData(),
            stop_spinning=stop_spinning,
        )
        timing = decode(PairedTiming, run_job(request, timeout_s=1800, label=request.case_id, work_dir=work))
        copies += timing.variant
        originals += timing.reference
    interval = stats.ratio_interval(copies, originals)  # variant side / reference side
    return {
        "stop_spinning": stop_spinning,
        "variant_side": "original" if swap else "copy",
        "ratio": round(interval.estimate, 4),
        "low": round(interval.low, 4),
        "high": round(interval.high, 4),
        "pairs": interval.n,
        "contains_1": interval.low <= 1.0 <= interval.high,
        "variant_side_tok_per_s": [round(v, 2) for v in copies],
        "reference_side_tok_per_s": [round(v, 2) for v in originals],
    }


def solo(pair: Pair, args: argparse.Namespace, work: Path) -> dict[str, Any]:
    """Each side alone in its own child (original first, then the copy), no accuracy: their decode tok/s ratio."""
    means: dict[str, float] = {}
    settings: dict[str, str] = {}
    for side, path in (("original", pair.original), ("copy", pair.copy)):
        request = MeasureRequest(
            case_id=f"aa-{pair.backend}-{side}",
            measurement_key=f"aa-{pair.backend}-{side}",
            model=spec(pair.backend, path),
            threads=args.threads,
            workload=args.workload,
            accuracy=AccuracySettings(),
            score_accuracy=False,
            reference_outputs=None,
            reference_role="none",
            corpus_tokens=str(args.tokens) if args.tokens else None,
            data=EvalData(),
        )
        data = run_job(request, timeout_s=1800, label=request.case_id, work_dir=work)
        means[side] = float(data["readings"]["decode_tok_per_s"]["value"])
        settings = data["info"].get("runtime_settings", {})
    return {
        "ratio": round(means["copy"] / means["original"], 4),
        "original_tok_per_s": round(means["original"], 2),
        "copy_tok_per_s": round(means["copy"], 2),
        "runtime_settings": settings,
    }


def write(report: dict[str, Any], name: str) -> None:
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / f"{name}.json").write_text(json.dumps(report, indent=2, sort_keys=True) + "\n")
    lines = [
        "# A/A calibration of the paired method: a variant against a byte-identical copy of itself",
        "",
        f"Command: `{report['command']}` at commit {report['commit']}.",
        f"Workload: prompt {report['workload']['prompt_tokens']} tokens, {report['workload']['gen_tokens']} "
        f"generated, {report['blocks']} paired children of {report['pairs_per_block']} pairs per backend and "
        f"setting, {report['threads']} threads. Machine: {report['machine']}; load average "
        f"{report['load']['loadavg_before']} before, {report['load']['loadavg_after']} after; all CPUs "
        f"{report['load']['cpu_busy_share']:.0%} busy over the run (ours included).",
        "",
        "| backend | variant | spinning between sides | variant side | paired ratio (variant / reference side) [95% CI]"
        " | pairs | 1.00 inside | solo ratio (copy / original) |",
        "|---|---|---|---|---|---:|---|---:|",
    ]
    for row in report["backends"]:
        for run in row["paired"]:
            if row["backend"] not in SPIN_KNOB:
                spinning = "no setting to change (runtime default)"
            else:
                spinning = "stopped" if run["stop_spinning"] else "runtime default"
            lines.append(
                f"| {row['backend']} | {row['variant']} | {spinning} | {run.get('variant_side', 'copy')} | "
                f"{run['ratio']:.3f}x "
                f"[{run['low']:.3f}, {run['high']:.3f}] | {run['pairs']} | "
                f"{'yes' if run['contains_1'] else '**no**'} | {row['solo']['ratio']:.3f}x |"
            )
    lines += ["", "Spinning setting recorded per backend (`runtime_settings.spinning` of the solo child):", ""]
    lines += [
        f"- {row['backend']}: {row['solo']['runtime_settings'].get('spinning', '-')}" for row in report["backends"]
    ]
    (RESULTS / f"{name}.md").write_text("\n".join(lines) + "\n")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backends", default=",".join(VARIANTS), help="comma-separated, of: " + ", ".join(VARIANTS))
    parser.add_argument("--blocks", type=int, default=4)
    parser.add_argument("--pairs", type=int, default=6)
    parser.add_argument("--prompt-tokens", type=int, default=32)
    parser.add_argument("--gen-tokens", type=int, default=32)
    parser.add_argument("--threads", type=int, default=default_threads())
    parser.add_argument("--without", action="store_true", help="also pair with the runtime's default spinning")
    parser.add_argument("--swap", action="store_true", help="also pair with the original as the variant side")
    parser.add_argument("--name", default="aa_paired")
    parser.add_argument("--cache", type=Path, default=default_cache_dir())
    args = parser.parse_args()
    args.workload = Workload(prompt_tokens=args.prompt_tokens, gen_tokens=args.gen_tokens, min_rounds=1, min_time_s=0)
    tokens = sorted((args.cache / "tokens" / MODEL).glob("*.npy"))
    if not tokens:
        raise SystemExit(f"no shared tokenization of {MODEL} in {args.cache / 'tokens'}; run the smollm2 suite once")
    args.tokens = tokens[0]
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")]))
    scratch = args.cache / "aa-copies"
    work = args.cache / "jobs"
    load_before = os.getloadavg()
    busy_before = cpu_busy()
    started = time.monotonic()
    rows = []
    try:
        for backend in args.backends.split(","):
            pair = copy_variant(find_variant(args.cache, backend), scratch, backend)
            runs = [paired(pair, args, True, work)]
            if args.without and backend in SPIN_KNOB:
                runs.append(paired(pair, args, False, work))
            if args.swap:
                runs.append(paired(pair, args, True, work, swap=True))
            rows.append(
                {
                    "backend": backend,
                    "variant": pair.original.name,
                    "sha256": pair.digest,
                    "paired": runs,
                    "solo": solo(pair, args, work),
                }
            )
            print(json.dumps(rows[-1]["paired"][0] | {"backend": backend}, sort_keys=True)[:300], flush=True)
            write(report(args, rows, started, load_before, busy_before), args.name)  # kept as it goes
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def report(
    args: argparse.Namespace,
    rows: list[dict[str, Any]],
    started: float,
    load_before: tuple[float, float, float],
    busy_before: tuple[int, int],
) -> dict[str, Any]:
    """The record so far: every backend measured, the command, the commit and the machine's load."""
    from benchharness.machine import fingerprint

    busy_after = cpu_busy()
    return {
        "command": shlex.join([Path(sys.executable).name, *sys.argv]),
        "commit": subprocess.run(
            ["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=False
        ).stdout.strip(),
        "machine": fingerprint()["id"],
        "threads": args.threads,
        "blocks": args.blocks,
        "pairs_per_block": args.pairs,
        "workload": {"prompt_tokens": args.prompt_tokens, "gen_tokens": args.gen_tokens},
        "wall_s": round(time.monotonic() - started, 1),
        "load": {
            "loadavg_before": [round(v, 2) for v in load_before],
            "loadavg_after": [round(v, 2) for v in os.getloadavg()],
            "cpu_busy_share": (busy_after[0] - busy_before[0]) / max(busy_after[1] - busy_before[1], 1),
        },
        "backends": rows,
    }


if __name__ == "__main__":
    main()
