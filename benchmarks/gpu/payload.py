"""Pack a staged folder into parts that each fit one device call, and unpack them on the device.

A lent GPU machine receives at most 64 MiB of working tree per call and has no internet, so what it
lacks (build_payload.sh stages it: a CUDA build of llama-cpp-python, onnxruntime-gpu, ...) travels as
numbered parts of one xz-compressed tar, one part per call, with a manifest of SHA-256 sums. The device
side needs only the standard library (tarfile, lzma, hashlib): nothing there can be pip-installed.

Packing replaces byte-identical large files with relative symlinks first: the llama-cpp-python CUDA wheel
ships the same 60 MB libggml-cuda.so under several names, and every copy would otherwise cost a call.

    python3 benchmarks/gpu/payload.py pack STAGE PARTS [--part-mib 56]   # on the CPU machine
    python3 benchmarks/gpu/payload.py held PARTS                          # on the device: what came
    python3 benchmarks/gpu/payload.py unpack PARTS DEST                   # on the device

Errors (a part missing, a checksum that differs) exit 2 with one line naming the part and what to do.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path
from typing import Any

MANIFEST = "manifest.json"
ARCHIVE = "payload.tar.xz"
DEDUPE_MIN_BYTES = 1 << 20  # small files are not worth a symlink


class PayloadError(Exception):
    """A part is missing or damaged; the message says which and what to do."""


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as f:
        while chunk := f.read(1 << 22):
            digest.update(chunk)
    return digest.hexdigest()


def dedupe(root: Path) -> int:
    """Replace each byte-identical copy of a file >= 1 MiB under `root` by a relative symlink to the first
    (in sorted path order, so the result is reproducible); return the bytes saved."""
    first: dict[tuple[int, str], Path] = {}
    saved = 0
    for path in sorted(p for p in root.rglob("*") if p.is_file() and not p.is_symlink()):
        size = path.stat().st_size
        if size < DEDUPE_MIN_BYTES:
            continue
        key = (size, sha256(path))
        if key not in first:
            first[key] = path
            continue
        target = os.path.relpath(first[key], path.parent)
        path.unlink()
        path.symlink_to(target)
        saved += size
    return saved


def split(archive: Path, parts_dir: Path, part_bytes: int) -> list[dict[str, object]]:
    """Cut `archive` into part-00, part-01, ... of at most `part_bytes` each; return their manifest rows."""
    rows: list[dict[str, object]] = []
    with archive.open("rb") as src:
        while chunk := src.read(part_bytes):
            part = parts_dir / f"part-{len(rows):02d}"
            part.write_bytes(chunk)
            rows.append({"name": part.name, "bytes": len(chunk), "sha256": hashlib.sha256(chunk).hexdigest()})
    return rows


def pack(stage: Path, parts_dir: Path, part_bytes: int) -> dict[str, Any]:
    """Dedupe `stage`, tar and xz-compress it (all cores, through the xz tool), split it; write the manifest."""
    if not stage.is_dir():
        raise PayloadError(f"nothing staged at {stage}: run benchmarks/gpu/build_payload.sh first")
    parts_dir.mkdir(parents=True, exist_ok=True)
    saved = dedupe(stage)
    archive = parts_dir.parent / ARCHIVE
    with archive.open("wb") as out:
        tar = subprocess.Popen(["tar", "-C", str(stage), "-cf", "-", "."], stdout=subprocess.PIPE)
        xz = subprocess.run(["xz", "-T0", "-6", "-c"], stdin=tar.stdout, stdout=out, check=False)
        assert tar.stdout is not None
        tar.stdout.close()
        if tar.wait() != 0 or xz.returncode != 0:
            raise PayloadError(f"tar|xz of {stage} failed (tar {tar.returncode}, xz {xz.returncode})")
    manifest: dict[str, Any] = {
        "archive": ARCHIVE,
        "archive_bytes": archive.stat().st_size,
        "archive_sha256": sha256(archive),
        "deduplicated_bytes": saved,
        "parts": split(archive, parts_dir, part_bytes),
    }
    archive.unlink()
    (parts_dir / MANIFEST).write_text(json.dumps(manifest, indent=1) + "\n")
    return manifest


RESEND = "carry .gpu/parts/manifest.json and the part in device_check.sh receive calls"


def read_manifest(parts_dir: Path) -> dict[str, Any]:
    """The manifest carried with the parts, or a PayloadError saying how to send it again."""
    path = parts_dir / MANIFEST
    if not path.is_file():
        raise PayloadError(f"{path} is missing: carry .gpu/parts/{MANIFEST} in every device call")
    try:
        manifest: dict[str, Any] = json.loads(path.read_text())
    except json.JSONDecodeError as error:
        raise PayloadError(f"{path} is not JSON ({error}): carry .gpu/parts/{MANIFEST} again") from None
    rows = manifest.get("parts") if isinstance(manifest, dict) else None
    if not isinstance(rows, list) or not all(isinstance(r, dict) and {"name", "sha256"} <= r.keys() for r in rows):
        raise PayloadError(f"{path} lists no parts with names and sums: carry .gpu/parts/{MANIFEST} again")
    return manifest


def missing_parts(manifest: dict[str, Any], parts_dir: Path) -> tuple[list[str], list[str]]:
    """Every part the manifest names, and those of them not in `parts_dir`."""
    names = [row["name"] for row in manifest["parts"]]
    return names, [n for n in names if not (parts_dir / n).is_file()]


def held(parts_dir: Path) -> str:
    """'holding 3 of 7 parts; next: part-03' (or what is missing), for the receive step's one line."""
    manifest = read_manifest(parts_dir)
    names, missing = missing_parts(manifest, parts_dir)
    if not missing:
        return f"holding all {len(names)} parts: run next"
    return f"holding {len(names) - len(missing)} of {len(names)} parts; next: {missing[0]}"


def join(parts_dir: Path, out: Path) -> dict[str, Any]:
    """Concatenate the parts named in the manifest into `out`, checking every part's and the whole's SHA-256.

    Every missing part is named at once (where all but the last are, the machine that held them went back), and
    a part whose sum differs is named with how to send it again.
    """
    manifest = read_manifest(parts_dir)
    names, missing = missing_parts(manifest, parts_dir)
    if missing:
        gone = (
            " (the machine that held the others went back: send every part again from part-00)"
            if len(missing) > 1
            else ""
        )
        raise PayloadError(f"{len(missing)} of {len(names)} parts missing: {', '.join(missing)}{gone}; {RESEND}")
    with out.open("wb") as dst:
        for row in manifest["parts"]:
            part = parts_dir / row["name"]
            if (got := sha256(part)) != row["sha256"]:
                raise PayloadError(
                    f"{part} is damaged or from another build (sha256 {got[:12]}, the manifest says "
                    f"{row['sha256'][:12]}): {RESEND}, both from the same build_payload.sh run"
                )
            with part.open("rb") as src:
                shutil.copyfileobj(src, dst, 1 << 22)
    if (got := sha256(out)) != manifest["archive_sha256"]:
        raise PayloadError(f"the joined {out} has sha256 {got[:12]}, expected {manifest['archive_sha256'][:12]}")
    return manifest


def unpack(parts_dir: Path, dest: Path) -> None:
    """Join and verify the parts, then extract them into `dest` (Python's own lzma and tarfile: no tools needed)."""
    archive = parts_dir / ARCHIVE
    join(parts_dir, archive)
    dest.mkdir(parents=True, exist_ok=True)
    with tarfile.open(archive, "r:xz") as tar:
        tar.extractall(dest, filter="tar")
    archive.unlink()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    p = sub.add_parser("pack", help="dedupe, tar, xz and split a staged folder")
    p.add_argument("stage", type=Path)
    p.add_argument("parts", type=Path)
    p.add_argument("--part-mib", type=int, default=56, help="largest part, MiB (a device call carries 64 MiB)")
    h = sub.add_parser("held", help="which parts are here and which to send next")
    h.add_argument("parts", type=Path)
    u = sub.add_parser("unpack", help="join, verify and extract the parts")
    u.add_argument("parts", type=Path)
    u.add_argument("dest", type=Path)
    args = parser.parse_args(argv)
    try:
        if args.command == "pack":
            manifest = pack(args.stage, args.parts, args.part_mib << 20)
            print(f"{len(manifest['parts'])} parts, {manifest['archive_bytes'] / 2**20:.0f} MiB compressed")
        elif args.command == "held":
            print(held(args.parts))
        else:
            unpack(args.parts, args.dest)
            print(f"unpacked into {args.dest}")
    except PayloadError as error:
        print(f"payload: {error}", file=sys.stderr)
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
