"""benchmarks/gpu/payload.py: what a lent GPU receives in parts must come back whole, or say which part is not.

Real tar and xz on real files (the CPU machine's side) and the standard library's lzma/tarfile (the device's).
"""

from __future__ import annotations

import importlib.util
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[1] / "benchmarks" / "gpu" / "payload.py"
spec = importlib.util.spec_from_file_location("gpu_payload", SCRIPT)
assert spec is not None and spec.loader is not None
payload = importlib.util.module_from_spec(spec)
spec.loader.exec_module(payload)

MIB = 1 << 20


def staged(root: Path) -> Path:
    """A stage like build_payload.sh's: a library shipped under two names, a tool, small files."""
    stage = root / "stage"
    lib = stage / "site" / "llama_cpp" / "lib"
    lib.mkdir(parents=True)
    blob = os.urandom(3 * MIB)  # incompressible, so the archive really needs several parts
    (lib / "libggml-cuda.so").write_bytes(blob)
    (lib / "libggml-cuda.so.0").write_bytes(blob)
    (stage / "site" / "pkg.py").write_text("VALUE = 1\n")
    (stage / "bin").mkdir()
    tool = stage / "bin" / "llama-bench"
    tool.write_bytes(os.urandom(MIB + 7))
    tool.chmod(0o755)
    return stage


def test_parts_join_back_into_the_staged_files_with_copies_as_links(tmp_path):
    stage = staged(tmp_path)
    originals = {p.relative_to(stage): p.read_bytes() for p in stage.rglob("*") if p.is_file()}
    manifest = payload.pack(stage, tmp_path / "parts", 2 * MIB)

    assert manifest["deduplicated_bytes"] == 3 * MIB
    assert len(manifest["parts"]) == 3  # ~4 MiB of random bytes after the copy became a link
    assert all(row["bytes"] <= 2 * MIB for row in manifest["parts"])
    assert json.loads((tmp_path / "parts" / "manifest.json").read_text()) == manifest

    dest = tmp_path / "device"
    payload.unpack(tmp_path / "parts", dest)
    restored = {p.relative_to(dest): p.read_bytes() for p in dest.rglob("*") if p.is_file()}
    assert restored == originals
    assert (dest / "site" / "llama_cpp" / "lib" / "libggml-cuda.so.0").is_symlink()
    assert os.access(dest / "bin" / "llama-bench", os.X_OK)
    assert not (tmp_path / "parts" / "payload.tar.xz").exists()  # the joined archive is not kept twice


def test_a_damaged_or_missing_part_is_named_with_how_to_send_it_again(tmp_path):
    parts = tmp_path / "parts"
    payload.pack(staged(tmp_path), parts, 2 * MIB)
    assert payload.held(parts) == "holding all 3 parts: run next"
    part = parts / "part-01"
    data = bytearray(part.read_bytes())
    data[100] ^= 0xFF
    part.write_bytes(bytes(data))
    with pytest.raises(payload.PayloadError, match=r"part-01 is damaged or from another build \(sha256 .*\): carry"):
        payload.unpack(parts, tmp_path / "device")
    part.unlink()
    assert payload.held(parts) == "holding 2 of 3 parts; next: part-01"
    with pytest.raises(payload.PayloadError, match=r"^1 of 3 parts missing: part-01; carry .gpu/parts/manifest.json"):
        payload.unpack(parts, tmp_path / "device")
    (parts / "part-00").unlink()  # a machine that went back between calls: everything sent before it is gone
    with pytest.raises(
        payload.PayloadError, match=r"2 of 3 parts missing: part-00, part-01 \(the machine .* went back"
    ):
        payload.unpack(parts, tmp_path / "device")
    (parts / "manifest.json").write_text('{"parts": 3}')
    with pytest.raises(payload.PayloadError, match=r"lists no parts with names and sums: carry .gpu/parts/manifest"):
        payload.unpack(parts, tmp_path / "device")
    (parts / "manifest.json").write_text("{")
    with pytest.raises(payload.PayloadError, match=r"manifest.json is not JSON \(.*\): carry"):
        payload.held(parts)
    (parts / "manifest.json").unlink()
    with pytest.raises(
        payload.PayloadError, match=r"manifest.json is missing: carry .gpu/parts/manifest.json in every"
    ):
        payload.unpack(parts, tmp_path / "device")


def test_the_command_line_says_what_is_wrong_in_one_line(tmp_path):
    done = subprocess.run(
        [sys.executable, str(SCRIPT), "pack", str(tmp_path / "nothing"), str(tmp_path / "parts")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 2
    assert done.stderr.strip().splitlines() == [
        f"payload: nothing staged at {tmp_path / 'nothing'}: run benchmarks/gpu/build_payload.sh first"
    ]
