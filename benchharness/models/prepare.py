"""Produce variant files once and reuse them: a content-addressed cache of prepared models.

A recipe's cache key chains from the hash of the file it started from, the recipe, its parameters
and the versions of the tools it uses, so a changed source or a new converter makes a new file
instead of reusing a stale one. Output is written under a temporary name and renamed into place,
and a file lock stops two sessions preparing the same variant at once: an interrupted prepare
leaves no half-written file or folder behind.

A prepared variant never changes after its manifest is written. What a backend needs in another
shape (onnxruntime's last-logits graph) is a derived artifact, made here by its own recipe into
its own folder beside the variant, under its own key and manifest, and checked like any variant
(formats/derived.py). The check compares every file, so a backend that writes into a variant's
folder shows up as "does not match its manifest" on the next run instead of as a size change.
Variant folders are not made read-only: on a root-run CI machine that would catch nothing, and for
everyone else it would make `rm -rf` of the cache fail; the check and an outside test (a variant
folder hashed before and after a real run) are what catch a writer.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from filelock import FileLock

from benchharness import units
from benchharness.errors import BenchHarnessError, PrepareError
from benchharness.formats import FORMATS
from benchharness.formats.composition import WeightComposition, read_composition
from benchharness.formats.derived import derived_path
from benchharness.formats.onnx_last_logits import NAME as LAST_LOGITS_NAME
from benchharness.isolation import run_job
from benchharness.models.provenance import Provenance, provenance
from benchharness.models.recipe_params import canonical
from benchharness.models.recipes import Recipe, recipe
from benchharness.models.registry import ModelDef, VariantDef
from benchharness.models.sizes import file_sizes
from benchharness.models.traffic import TokenTraffic, read_traffic
from benchharness.page_cache import model_files
from benchharness.protocol import BuildRequest
from benchharness.storage import write_text_atomic
from benchharness.typed_json import read, write

Progress = Callable[[str], None]
# What earlier versions' onnxruntime backend wrote into a variant's folder at load time (a second copy
# of the graph): removed from cached variants on sight, and never part of a located variant's identity.
LEGACY_DERIVED = (".last-logits.onnx", ".last-logits.onnx.partial-")
# Artifacts a backend loads in place of a variant's own files, made in prepare:
# (format, kind) -> (folder name beside the variant, recipe) pairs.
LAST_LOGITS = (LAST_LOGITS_NAME, "onnx-last-logits")  # formats/onnx_last_logits.py finds it by NAME
DERIVED_ARTIFACTS: dict[tuple[str, str], tuple[tuple[str, str], ...]] = {
    ("onnx", "causal-lm"): (LAST_LOGITS,),
    ("ortgenai", "causal-lm"): (LAST_LOGITS,),  # its accuracy scorer is plain onnxruntime
}

# Room a build needs beyond its output: its job files and log, and the measurements that follow it.
HEADROOM_BYTES = 32 * 2**20
# Below this, a failed build is taken to have met a full disk, whatever the tool printed.
FULL_BYTES = 2**20


@dataclass(frozen=True)
class Variant:
    """A prepared, loadable variant (a file or a folder) and where it sits in its model's family."""

    model: str
    label: str
    format: str
    path: Path
    key: str  # content key (sha256 prefix) identifying exactly these weights
    reference: str  # the label of its format's reference variant
    # Parameters per stored type, read once at prepare (None for formats not read: hf, mlx).
    weights: WeightComposition | None = None
    # Bytes read per decoded token, from the same files (models/traffic.py; None where not read).
    traffic: TokenTraffic | None = None
    # Who made it and how (recipe, tools, and what the recipe itself recorded, e.g. Olive's passes); None if located.
    provenance: Provenance | None = field(default=None, compare=False)

    @property
    def is_reference(self) -> bool:
        return self.label == self.reference

    @property
    def file_bytes(self) -> int:
        """The weights the runtime loads (reading `weights_file_bytes`; tokenizer and config files excluded)."""
        return file_sizes(self.path).weights_bytes


def disk_bytes(path: Path) -> int:
    """Size of a file, or of every file in a folder."""
    if path.is_dir():
        return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
    return path.stat().st_size


def check_located(fmt: str, path: Path) -> None:
    """Fail early, with the fix, on a located variant that is missing or plainly not of its format (its check)."""
    FORMATS[fmt].check(path)


def _legacy(path: Path) -> bool:
    return any(marker in path.name for marker in LEGACY_DERIVED)


def _drop_legacy(path: Path, progress: Progress) -> None:
    """Remove the last-logits graphs earlier versions wrote into a cached variant at load time."""
    if path.is_dir():
        for stale in sorted(p for p in path.rglob("*") if p.is_file() and _legacy(p)):
            progress(f"removing {stale}: a load-time copy written by an earlier version (now made beside the variant)")
            stale.unlink(missing_ok=True)


def _file_table(path: Path) -> dict[str, int]:
    """Each built file's size, by name within the variant: what `_intact` checks a cached variant against."""
    return {(str(f.relative_to(path)) if path.is_dir() else f.name): f.stat().st_size for f in model_files(path)}


def _mib(n: float) -> str:
    return f"{n / 2**20:.1f} MiB"


def free_bytes(folder: Path) -> int:
    """Free space for this user on the disk holding `folder`."""
    return shutil.disk_usage(folder).free


def check_space(folder: Path, name: str, how: Recipe, base: Variant | None) -> None:
    """Refuse a build the cache's disk has no room for, before it starts.

    A converter that meets a full disk dies with its own output (llama.cpp starts with a page of
    model metadata), where "no space left on device" is hard to find; this says it first, with the fix.
    """
    base_bytes = base.file_bytes if base else 0
    need = int(base_bytes * how.size_factor) + HEADROOM_BYTES
    free = free_bytes(folder)
    if free < need:
        made_from = f"{_mib(base_bytes)} of {base.format} {base.label} x {how.size_factor:g}, plus " if base else ""
        raise PrepareError(
            f"prepare {name}: no room in the cache: {folder} has {_mib(free)} free and {how.name} needs about "
            f"{_mib(need)} ({made_from}{_mib(HEADROOM_BYTES)} headroom); free space on that disk or set "
            "BENCHHARNESS_CACHE to a folder on a disk with room"
        )


def _disk_full(error: Exception, folder: Path) -> bool:
    """Whether a failed build met a full disk: the tool said so, or the disk is (nearly) full now."""
    text = str(error)
    if "No space left on device" in text or "ENOSPC" in text or "Errno 28" in text:
        return True
    try:
        return free_bytes(folder) < FULL_BYTES
    except OSError:
        return False


def _remove(path: Path) -> None:
    if path.is_dir():
        shutil.rmtree(path, ignore_errors=True)
    else:
        path.unlink(missing_ok=True)


def _manifest_path(path: Path, how: Recipe) -> Path:
    return path.with_name(path.name + ".json") if how.output == "dir" else path.with_suffix(".json")


class Preparer:
    """Turns (model, format, label) into a Variant, preparing missing ones (and their bases) through the cache."""

    def __init__(self, cache_dir: Path, threads: int, timeout_s: float, progress: Progress) -> None:
        self.cache_dir = cache_dir
        self.threads = threads
        self.timeout_s = timeout_s
        self.progress = progress
        self._done: dict[tuple[str, str, str], Variant] = {}
        self._hashes: dict[tuple[str, int, int], str] = {}
        self.rebuilt: list[str] = []  # cached variants that did not match their manifest (said in the summary)

    def rebuilt_lines(self) -> list[str]:
        """The summary's line about cached variants rebuilt this run, if any."""
        if not self.rebuilt:
            return []
        return [
            f"cache: rebuilt {len(self.rebuilt)} variant(s) whose cached copy did not match its "
            f"manifest (truncated or changed): {', '.join(self.rebuilt)}"
        ]

    def _content_key(self, path: Path) -> str:
        """SHA-256 of a file, or of a folder's files in name order (memoised by size and mtime)."""
        files = sorted(p for p in path.rglob("*") if p.is_file() and not _legacy(p)) if path.is_dir() else [path]
        digest = hashlib.sha256()
        for file in files:
            stat = file.stat()
            memo = (str(file.resolve()), stat.st_size, stat.st_mtime_ns)
            if memo not in self._hashes:
                file_digest = hashlib.sha256()
                with file.open("rb") as f:
                    for block in iter(lambda: f.read(1 << 20), b""):
                        file_digest.update(block)
                self._hashes[memo] = file_digest.hexdigest()
            digest.update(f"{file.relative_to(path) if path.is_dir() else file.name}:{self._hashes[memo]}".encode())
        return digest.hexdigest()[:16]

    def prepare(self, model: ModelDef, fmt: str, label: str) -> Variant:
        """The variant, prepared (with the variants it is made from) if the cache does not have it yet."""
        definition = model.variant(fmt, label)
        memo = (model.name, fmt, label)
        if memo in self._done:
            return self._done[memo]
        reference = model.references[fmt]
        if definition.locate is not None:
            path = definition.locate()
            check_located(fmt, path)
            weights = read_composition(fmt, path, None, {})
            traffic = read_traffic(fmt, path)
            variant = Variant(model.name, label, fmt, path, self._content_key(path), reference, weights, traffic)
        else:
            variant = self._prepare_recipe(model, definition, reference)
            self._derive(model, variant)
        self._done[memo] = variant
        return variant

    def _derive(self, model: ModelDef, variant: Variant) -> None:
        """Make the artifacts backends load in place of this variant, each in its own folder beside it.

        Only for variants in the cache: a located variant is the user's, so nothing is written beside
        it; its backend makes what it needs at load time into a scratch folder.
        """
        for folder, name in DERIVED_ARTIFACTS.get((variant.format, model.kind), ()):
            how = recipe(name)
            if missing := how.missing_tools():
                raise PrepareError(f"{model.name} {variant.format} {variant.label}: {missing}")
            path = derived_path(variant.path, folder)
            key = hashlib.sha256(f"{variant.key}|{how.name}|{how.tool_versions()}".encode()).hexdigest()[:16]
            self._build(path, how, variant, {}, f"{model.name} {variant.format} {variant.label} {name}", key)

    def corpus_tokens(self, model: ModelDef) -> Variant | None:
        """The model's shared tokenization of the accuracy corpus (None if the model has none)."""
        definition = model.corpus_tokens
        if definition is None:
            return None
        memo = (model.name, definition.format, definition.label)
        if memo not in self._done:
            self._done[memo] = self._prepare_recipe(model, definition, reference="")
        return self._done[memo]

    def _intact(self, path: Path, manifest_path: Path, name: str, key: str, quiet: bool = False) -> bool:
        """A cached variant matches its manifest's key and every file it lists (a truncated, half-deleted
        or since-written-to one does not). A manifest from before keys or file tables gets them now.
        """
        try:
            manifest = json.loads(manifest_path.read_text())
            _drop_legacy(path, self.progress)
            listed = manifest.get("files")
            if listed is None or "key" not in manifest:
                manifest.setdefault("files", _file_table(path))
                manifest.setdefault("key", key)
                write_text_atomic(manifest_path, json.dumps(manifest, indent=2, sort_keys=True) + "\n")
                listed = manifest["files"]
            intact = manifest["key"] == key and bool(_file_table(path) == listed)
        except (OSError, ValueError, AttributeError, BenchHarnessError):
            intact = False
        if not intact and not quiet:
            self.rebuilt.append(name)
            self.progress(f"prepare {name}: the cached copy does not match its manifest; rebuilding it")
        return intact

    def _prepare_recipe(self, model: ModelDef, definition: VariantDef, reference: str) -> Variant:
        how = recipe(str(definition.recipe))
        missing = how.missing_tools()
        if missing:
            raise PrepareError(f"{model.name} {definition.format} {definition.label}: {missing}")
        params = dict(definition.params)
        how.values(params, model.kind)  # bad parameters fail here, before any work (the base's included)
        base = self.prepare(model, *definition.base) if definition.base else None
        keyed = json.dumps(how.key_params(params), sort_keys=True)
        recipe_text = f"{base.key if base else '-'}|{how.name}|{keyed}|{how.tool_versions()}"
        key = hashlib.sha256(recipe_text.encode()).hexdigest()[:16]
        path = self.cache_dir / definition.format / model.name / f"{definition.label}-{key}{how.suffix}"
        self._build(path, how, base, params, f"{model.name} {definition.format} {definition.label}", key)
        weights = self._composition(path, _manifest_path(path, how), definition)
        made = provenance(path, how)
        traffic = self._traffic(path, _manifest_path(path, how), definition.format)
        return Variant(
            model.name,
            definition.label,
            definition.format,
            path,
            key,
            reference,
            weights,
            traffic=traffic,
            provenance=made,
        )

    def _composition(self, path: Path, manifest_path: Path, definition: VariantDef) -> WeightComposition | None:
        """The variant's weight types, from its manifest; read from its files once and kept there if absent."""
        manifest = json.loads(manifest_path.read_text())
        if "weights" in manifest:
            kept = manifest["weights"]
            return None if kept is None else WeightComposition.from_json(kept, f"{manifest_path}: weights")
        # With the recipe's defaults filled in: a declared nncf variant without `mode` asked for INT8 all the same.
        values = recipe(str(definition.recipe)).values(dict(definition.params)) if definition.recipe else {}
        asked = {name: canonical(value) for name, value in values.items() if value is not None}
        weights = read_composition(definition.format, path, definition.recipe, asked)
        manifest["weights"] = None if weights is None else weights.to_json()
        write_text_atomic(manifest_path, json.dumps(manifest, indent=2, sort_keys=True) + "\n")
        return weights

    def _traffic(self, path: Path, manifest_path: Path, fmt: str) -> TokenTraffic | None:
        """The variant's bytes per token, from its manifest; read from its files once and kept there if absent."""
        manifest = json.loads(manifest_path.read_text())
        kept = manifest.get("traffic")
        # An OpenVINO count kept before f32 tensors were counted apart is read again (the manifest only gains it).
        if "traffic" in manifest and not (fmt == "openvino" and kept is not None and "f32_weight_bytes" not in kept):
            return None if kept is None else read(TokenTraffic, kept, f"{manifest_path}: traffic")
        traffic = read_traffic(fmt, path)
        manifest["traffic"] = None if traffic is None else write(traffic)
        write_text_atomic(manifest_path, json.dumps(manifest, indent=2, sort_keys=True) + "\n")
        return traffic

    def _build(
        self, path: Path, how: Recipe, base: Variant | None, params: dict[str, str], name: str, key: str
    ) -> None:
        manifest_path = _manifest_path(path, how)
        if path.exists() and self._intact(path, manifest_path, name, key, quiet=True):
            return
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise PrepareError(
                f"cannot create cache folder {path.parent} ({e.strerror}); set BENCHHARNESS_CACHE to a writable folder"
            ) from None
        with FileLock(str(path) + ".lock"):
            if path.exists() and self._intact(path, manifest_path, name, key):  # another session finished it
                return
            _remove(path)
            check_space(path.parent, name, how, base)
            partial = path.with_name(f"{path.name}.partial-{os.getpid()}")
            source = f" from {base.format} {base.label}" if base else ""
            self.progress(f"prepare {name}: {how.name}{source} ...")
            started = time.perf_counter()
            try:
                run_job(
                    BuildRequest(
                        recipe=how.name,
                        source=str(base.path) if base else None,
                        destination=str(partial),
                        params=params,
                        threads=self.threads,
                    ),
                    timeout_s=self.timeout_s,
                    label=f"prepare {name}",
                    work_dir=self.cache_dir / "jobs",
                )
                if not partial.exists():
                    raise PrepareError(f"prepare {name}: {how.name} finished but wrote nothing; see its output")
                os.replace(partial, path)
            except BenchHarnessError as e:
                # Judged before the partial output is removed, while the disk is still as the build left it.
                if _disk_full(e, path.parent):
                    raise PrepareError(
                        f"prepare {name}: no space left on device in {path.parent} ({_mib(free_bytes(path.parent))} "
                        f"free after {how.name} wrote {_mib(disk_bytes(partial) if partial.exists() else 0)}); "
                        "free space on that disk or set BENCHHARNESS_CACHE to a folder on a disk with room"
                    ) from None
                raise
            finally:
                if partial.is_dir():
                    shutil.rmtree(partial, ignore_errors=True)
                else:
                    partial.unlink(missing_ok=True)
            manifest = {
                "key": key,
                "base": f"{base.format} {base.label}" if base else None,
                "base_key": base.key if base else None,
                "recipe": how.name,
                "params": params,
                "tools": how.tool_versions(),
                "files": _file_table(path),
            }
            write_text_atomic(manifest_path, json.dumps(manifest, indent=2, sort_keys=True) + "\n")
            took, size = units.significant(time.perf_counter() - started, 3), units.show(disk_bytes(path), "B")
            self.progress(f"prepare {name}: done in {took} s ({size})")  # a digits variant: 0.0412 s, 45 KiB, not 0
