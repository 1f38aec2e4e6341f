"""Dropping a model's cached pages before a load: checked against the kernel's own count (util-linux's fincore)."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest

from benchharness.page_cache import drop_cached_pages, model_files

needs_fincore = pytest.mark.skipif(
    shutil.which("fincore") is None or not hasattr(os, "posix_fadvise"),
    reason="needs Linux's posix_fadvise and util-linux's fincore to count resident pages",
)


def resident_pages(path: Path) -> int:
    """Pages of `path` in the page cache, as the kernel reports them (mincore, through fincore)."""
    out = subprocess.run(
        ["fincore", "--noheadings", "--bytes", "--output", "PAGES", str(path)],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return int(out.split()[0])


def write(path: Path, mib: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(os.urandom(mib << 20))


@needs_fincore
def test_a_model_folder_read_into_the_cache_is_dropped_file_by_file(tmp_path):
    folder = tmp_path / "model"
    write(folder / "model.xml", 1)
    write(folder / "weights" / "model.bin", 4)
    for f in model_files(folder):
        f.read_bytes()  # now cached
    assert all(resident_pages(f) > 0 for f in model_files(folder))
    line = drop_cached_pages(folder)
    assert line.startswith("dropped before load: 2 file(s), 5.0 MiB"), line
    assert [resident_pages(f) for f in model_files(folder)] == [0, 0]


@needs_fincore
def test_a_file_just_written_is_written_back_and_dropped_too(tmp_path):
    # A variant prepare has just made is dirty in the cache; DONTNEED alone would keep those pages.
    gguf = tmp_path / "q8_0.gguf"
    write(gguf, 3)
    assert resident_pages(gguf) > 0
    drop_cached_pages(gguf)
    assert resident_pages(gguf) == 0


def test_a_folder_lists_its_files_sorted_and_a_file_lists_itself(tmp_path):
    write(tmp_path / "b" / "y.bin", 0)
    write(tmp_path / "b" / "a" / "x.json", 0)
    assert model_files(tmp_path / "b") == [tmp_path / "b" / "a" / "x.json", tmp_path / "b" / "y.bin"]
    assert model_files(tmp_path / "b" / "y.bin") == [tmp_path / "b" / "y.bin"]
