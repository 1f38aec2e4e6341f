"""How long `benchharness compare --html` of two lab nights takes, and how big its page is.

    python benchmarks/lab_compare.py --machines 50 --repeat 3 --out /tmp/lab-compare \\
        --record benchmarks/results/lab_compare.md

The nightly lab compares its merged results with a release's (issue 28). Two nights of synthetic_lab.py's
machines (each machine's last night and the one before, as lab-results files like merge's
lab_files/results.json) are compared in a fresh process each time: wall, peak RSS (GNU time's %M), the
HTML page's bytes against each side's results, with `uptime`'s load at each run (the machine is shared).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

import synthetic_lab  # noqa: E402


def make_nights(out: Path, machines: int, nights: int, seed: int) -> tuple[Path, Path]:
    """old.json: every machine's night before its last; new.json: its last; both lab-results documents."""
    from benchharness.results import lab_document

    template = synthetic_lab.load_template()
    lab = synthetic_lab.plan(template, json.loads(synthetic_lab.NOISE.read_text()), machines, nights, seed)
    maker = synthetic_lab.NightMaker(template, lab)
    out.mkdir(parents=True)
    for name, back in (("old", 1), ("new", 0)):
        runs = [maker.document(m, m.last_night - back) for m in lab.machines]
        document = lab_document(runs)
        (out / f"{name}.json").write_text(json.dumps(document, sort_keys=True, separators=(",", ":")))
    return out / "old.json", out / "new.json"


def time_compare(out: Path) -> dict[str, Any]:
    uptime = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    command = [sys.executable, "-m", "benchharness.cli", "compare", "old.json", "new.json", "--html", "diff.html"]
    t0 = time.perf_counter()
    done = subprocess.run(
        ["/usr/bin/time", "-f", "%M", *command, "--history", "off"],
        cwd=out,
        capture_output=True,
        text=True,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    wall = time.perf_counter() - t0
    if done.returncode not in (0, 1):
        raise SystemExit(f"compare failed ({done.returncode}): {done.stderr[-2000:]}")
    compared = next(line for line in done.stdout.splitlines() if "compared" in line and "figure(s)" in line)
    return {
        "wall_s": round(wall, 2),
        "peak_rss_mib": round(int(done.stderr.strip().splitlines()[-1]) / 1024, 1),
        "page_bytes": (out / "diff.html").stat().st_size,
        "side_bytes": (out / "new.json").stat().st_size,
        "said": compared,
        "uptime": uptime,
    }


def record(path: Path, command: str, machines: int, rows: list[dict[str, Any]]) -> None:
    lines = [
        "# `benchharness compare --html` of two lab nights: time, memory and page size",
        "",
        f"Made by: `{command}`",
        "",
        f"{machines} machines of synthetic_lab.py (seed 1, the default suite), each one's last night against the "
        "night before, as two lab-results files; each row is one fresh `benchharness compare old.json new.json "
        "--html diff.html --history off` process. The machine is shared: the load is `uptime`'s at the start.",
        "",
        "Before (2026-12-01, same lab): 586 s and 530 MiB at load ~5, 97% in the bootstrap statistic called once "
        "per resample; the page embedded both sides' results (~83 MB for two 50-machine labs, issue 28).",
        "",
        "| run | wall s | peak RSS MiB | diff page | each side's results | compare said | load at start |",
        "|---:|---:|---:|---:|---:|---|---|",
    ]
    for i, r in enumerate(rows, 1):
        lines.append(
            f"| {i} | {r['wall_s']} | {r['peak_rss_mib']} | {r['page_bytes'] / 1e6:.2f} MB | "
            f"{r['side_bytes'] / 1e6:.1f} MB | {r['said']} | {r['uptime'].split('load average:')[-1].strip()} |"
        )
    path.write_text("\n".join(lines) + "\n")


def main() -> int:
    top = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    top.add_argument("--machines", type=int, default=50)
    top.add_argument("--nights", type=int, default=15)
    top.add_argument("--seed", type=int, default=1)
    top.add_argument("--repeat", type=int, default=3)
    top.add_argument("--out", required=True, help="a fresh folder for the two nights and the page")
    top.add_argument("--record", help="write the markdown record here")
    args = top.parse_args()
    out = Path(args.out)
    if out.exists():
        shutil.rmtree(out)
    make_nights(out, args.machines, args.nights, args.seed)
    rows = []
    for _ in range(args.repeat):
        rows.append(time_compare(out))
        print(json.dumps(rows[-1]))
    if args.record:
        record(Path(args.record), "python benchmarks/lab_compare.py " + " ".join(sys.argv[1:]), args.machines, rows)
        print(f"wrote {args.record}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
