"""llama.cpp's own `convert_hf_to_gguf.py`, for the llama.cpp that the installed llama-cpp-python vendors.

The converter is what makes a GGUF from a Hugging Face checkpoint folder, but the llama-cpp-python
wheel ships only the compiled library: the converter (with its `conversion/` package and the
matching `gguf-py`) is in the sdist, under vendor/llama.cpp/. `fetch` downloads that sdist once at
set-up time (PyPI, by pip itself) and keeps only those parts, in a folder keyed by the installed
version, so a run never reaches the network and a GGUF it writes always loads in the llama.cpp the
run measures with. A folder for another version is never used: a newer converter can write tensor
layouts or metadata an older llama.cpp rejects.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import shutil
import subprocess
import sys
import tarfile
import tempfile
from dataclasses import dataclass
from pathlib import Path

from benchharness.errors import PrepareError

DISTRIBUTION = "llama-cpp-python"
FETCH_COMMAND = "benchharness fetch-llama-converter"
# What the converter needs from vendor/llama.cpp/: the script, its model classes and its gguf-py.
PARTS = ("convert_hf_to_gguf.py", "conversion/", "gguf-py/", "LICENSE")
SOURCE_FILE = "SOURCE.json"


@dataclass(frozen=True)
class ConverterStatus:
    """Where the converter is (or would be), what it is for the cache key, and why it cannot run, if it cannot."""

    folder: Path | None
    version: str  # e.g. "convert_hf_to_gguf.py of llama-cpp-python 0.3.36 sdist sha256 1a2b..."
    missing: str | None


def installed_version() -> str | None:
    try:
        return importlib.metadata.version(DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError:
        return None


def converter_folder(version: str) -> Path:
    """The cache folder for one llama-cpp-python version's converter (beside the prepared models)."""
    from benchharness.settings import default_cache_dir

    return default_cache_dir() / "tools" / f"llama.cpp-convert-{version}"


def status() -> ConverterStatus:
    """The converter matching the installed llama-cpp-python, or the one command that fetches it."""
    version = installed_version()
    if version is None:
        return ConverterStatus(None, "convert_hf_to_gguf.py absent", f"llama-cpp-python is not installed; {_install}")
    folder = converter_folder(version)
    try:
        source = json.loads((folder / SOURCE_FILE).read_text(encoding="utf-8"))
        intact = (folder / "convert_hf_to_gguf.py").is_file() and source["version"] == version
    except (OSError, ValueError, KeyError, TypeError):
        intact = False
    if not intact:
        return ConverterStatus(
            None,
            "convert_hf_to_gguf.py absent",
            f"llama.cpp's convert_hf_to_gguf.py for llama-cpp-python {version} (not in {folder}; "
            f"the wheel does not ship it): run once, online: {FETCH_COMMAND}",
        )
    text = f"convert_hf_to_gguf.py of {DISTRIBUTION} {version} sdist sha256 {source['sha256'][:16]}"
    return ConverterStatus(folder, text, None)


_install = "pip install 'benchharness[llamacpp]'"


def fetch(progress: bool = True) -> Path:
    """Download the installed llama-cpp-python's sdist with pip and keep the converter's parts; idempotent.

    Written under a temporary name and renamed, so an interrupted fetch leaves nothing that looks whole.
    """
    version = installed_version()
    if version is None:
        raise PrepareError(f"llama-cpp-python is not installed, so there is no llama.cpp to match; {_install}")
    folder = converter_folder(version)
    if status().folder is not None:
        if progress:
            print(f"llama.cpp's converter for llama-cpp-python {version} is already in {folder}")
        return folder
    folder.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=folder.parent, prefix=".fetch-") as scratch:
        download = Path(scratch) / "sdist"
        command = [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:"]
        command += ["--dest", str(download), f"{DISTRIBUTION}=={version}"]
        if progress:
            print(f"downloading the {DISTRIBUTION} {version} sdist (about 75 MB) for llama.cpp's converter ...")
        done = subprocess.run(command, capture_output=True, text=True)
        archives = sorted(download.glob("*.tar.gz")) if download.is_dir() else []
        if done.returncode != 0 or len(archives) != 1:
            tail = (done.stdout + done.stderr).strip().splitlines()[-1:] or ["no output"]
            raise PrepareError(
                f"pip could not download the {DISTRIBUTION}=={version} sdist ({tail[0]}); "
                f"run {FETCH_COMMAND} where PyPI is reachable, with the same llama-cpp-python installed"
            )
        staged = Path(scratch) / "converter"
        _unpack(archives[0], staged)
        digest = hashlib.sha256(archives[0].read_bytes()).hexdigest()
        record = {"distribution": DISTRIBUTION, "version": version, "sdist": archives[0].name, "sha256": digest}
        (staged / SOURCE_FILE).write_text(json.dumps(record, indent=2, sort_keys=True) + "\n", encoding="utf-8")
        shutil.rmtree(folder, ignore_errors=True)  # a half-written or stale folder of this version
        staged.rename(folder)
    if progress:
        print(f"llama.cpp's converter for llama-cpp-python {version} is in {folder}")
    return folder


def _unpack(archive: Path, destination: Path) -> None:
    """Only vendor/llama.cpp/'s converter parts, with no path that leaves `destination`."""
    with tarfile.open(archive, "r:gz") as tar:
        members = []
        for member in tar.getmembers():
            _, _, inner = member.name.partition("/vendor/llama.cpp/")
            wanted = inner and any(inner == part or inner.startswith(part) for part in PARTS) and ".." not in inner
            if wanted and (member.isfile() or member.isdir()):
                member.name = inner
                members.append(member)
        if not any(m.name == "convert_hf_to_gguf.py" for m in members):
            raise PrepareError(
                f"{archive.name} has no vendor/llama.cpp/convert_hf_to_gguf.py; this llama-cpp-python version "
                "does not vendor llama.cpp's converter, so declare a .gguf file of the checkpoint instead"
            )
        tar.extractall(destination, members=members, filter="data")
