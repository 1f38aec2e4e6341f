"""Produce variant files once and reuse them: a content-addressed cache of prepared models.

A recipe's cache key chains from the hash of the file it started from, the quantization and the
runtime version, so a changed source or a new llama.cpp makes a new file instead of reusing a stale
one. Output is written under a temporary name and renamed into place, and a file lock stops two
sessions preparing the same variant at once: an interrupted prepare leaves no half file behind.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from filelock import FileLock

from benchharness.errors import PrepareError
from benchharness.isolation import run_job
from benchharness.models.gguf import check_gguf, ftype_of
from benchharness.models.registry import ModelDef

Progress = Callable[[str], None]


@dataclass(frozen=True)
class Variant:
    """A prepared, loadable variant file and where it sits in its model's family."""

    model: str
    label: str
    format: str
    path: Path
    key: str  # content key (sha256 prefix) identifying exactly these weights
    reference: str  # the reference variant's label

    @property
    def is_reference(self) -> bool:
        return self.label == self.reference

    @property
    def file_bytes(self) -> int:
        if self.path.is_dir():
            return sum(p.stat().st_size for p in self.path.rglob("*") if p.is_file())
        return self.path.stat().st_size


def _runtime_version() -> str:
    try:
        return importlib.metadata.version("llama-cpp-python")
    except importlib.metadata.PackageNotFoundError:
        return "absent"


class Preparer:
    """Turns (model, variant label) into a Variant, preparing missing files through the cache."""

    def __init__(self, cache_dir: Path, threads: int, timeout_s: float, progress: Progress) -> None:
        self.cache_dir = cache_dir
        self.threads = threads
        self.timeout_s = timeout_s
        self.progress = progress
        self._done: dict[tuple[str, str], Variant] = {}
        self._hashes: dict[tuple[str, int, int], str] = {}

    def _file_key(self, path: Path) -> str:
        stat = path.stat()
        memo = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
        if memo not in self._hashes:
            digest = hashlib.sha256()
            with path.open("rb") as f:
                for block in iter(lambda: f.read(1 << 20), b""):
                    digest.update(block)
            self._hashes[memo] = digest.hexdigest()[:16]
        return self._hashes[memo]

    def prepare(self, model: ModelDef, label: str) -> Variant:
        """The variant's file, prepared (with its ancestors) if the cache does not have it yet."""
        if label not in model.variants:
            raise PrepareError(f"model {model.name} has no variant {label!r}; variants: {', '.join(model.variants)}")
        if (model.name, label) in self._done:
            return self._done[(model.name, label)]
        variant_def = model.variants[label]
        if variant_def.locate is not None:
            path = variant_def.locate()
            check_gguf(path)
            variant = Variant(model.name, label, model.format, path, self._file_key(path), model.reference)
        else:
            base = self.prepare(model, variant_def.base or model.reference)
            quantize = str(variant_def.quantize)
            ftype_of(quantize)
            key = hashlib.sha256(f"{base.key}|{quantize}|llama-cpp-python {_runtime_version()}".encode()).hexdigest()[
                :16
            ]
            path = self.cache_dir / model.format / model.name / f"{label}-{key}.gguf"
            self._build(path, base, quantize, f"{model.name} {label}")
            variant = Variant(model.name, label, model.format, path, key, model.reference)
        self._done[(model.name, label)] = variant
        return variant

    def _build(self, path: Path, base: Variant, quantize: str, name: str) -> None:
        if path.is_file():
            return
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise PrepareError(
                f"cannot create cache folder {path.parent} ({e.strerror}); set BENCHHARNESS_CACHE to a writable folder"
            ) from None
        with FileLock(str(path) + ".lock"):
            if path.is_file():  # another session finished it while we waited
                return
            partial = path.with_name(f"{path.name}.partial-{os.getpid()}")
            self.progress(f"prepare {name}: {quantize} from {base.label} ({base.path.name}) ...")
            started = time.perf_counter()
            try:
                run_job(
                    "quantize",
                    {
                        "source": str(base.path),
                        "destination": str(partial),
                        "quantize": quantize,
                        "threads": self.threads,
                    },
                    timeout_s=self.timeout_s,
                    label=f"prepare {name}",
                )
                os.replace(partial, path)
            finally:
                partial.unlink(missing_ok=True)
            manifest = {"base": base.label, "base_key": base.key, "quantize": quantize, "runtime": _runtime_version()}
            path.with_suffix(".json").write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
            size_mib = path.stat().st_size / 2**20
            self.progress(f"prepare {name}: done in {time.perf_counter() - started:.1f} s ({size_mib:.0f} MiB)")
