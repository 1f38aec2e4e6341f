"""Versioned JSON files written so that nothing stored is ever half-written or lost.

Writes go to a temporary file in the same folder, are fsynced, then renamed over the target (an
atomic replace on POSIX), under a file lock so concurrent sessions or xdist workers serialise.
Reads check `schema_version`: older files are migrated step by step, newer ones refused.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from filelock import FileLock, Timeout

from benchharness.errors import StoreError

Migration = Callable[[dict[str, Any]], dict[str, Any]]


def lock_for(path: Path) -> FileLock:
    return FileLock(str(path) + ".lock", timeout=120)


def write_json_atomic(path: Path, data: dict[str, Any]) -> None:
    """Replace `path` with `data` (sorted, indented JSON) or leave the old file untouched."""
    try:
        text = json.dumps(data, indent=2, sort_keys=True, allow_nan=False) + "\n"
    except ValueError as e:
        raise StoreError(f"cannot write {path} ({e}); nothing was changed") from None
    write_text_atomic(path, text)


def new_folder_note(path: Path) -> str:
    """' (made the folder X/)' where writing `path` will make its folder, else ''; asked before the write.

    Every output path (--report, --html, merge's and report's --out, digest's --json, results_dir) makes a
    missing folder rather than refusing; the line that names the file says so, so a mistyped folder is seen.
    """
    return "" if path.parent.exists() else f" (made the folder {path.parent}/)"


def write_text_atomic(path: Path, text: str) -> None:
    """Replace `path` with `text` (written, fsynced, renamed) or leave the old file untouched."""
    if path.parent.exists() and not path.parent.is_dir():
        raise StoreError(
            f"cannot write {path}: {path.parent} is a file, not a folder; move it or point the setting elsewhere"
        )
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    except OSError as e:
        raise StoreError(
            f"cannot write {path} ({e.strerror}); make {path.parent} writable or point the setting elsewhere"
        ) from None
    try:
        os.fchmod(fd, 0o666 & ~_umask())  # mkstemp makes 0600; a stored file gets the user's usual mode
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
        dir_fd = os.open(path.parent, os.O_RDONLY)
        try:
            os.fsync(dir_fd)
        finally:
            os.close(dir_fd)
    except (OSError, ValueError) as e:
        Path(tmp).unlink(missing_ok=True)
        raise StoreError(f"cannot write {path} ({e}); nothing was changed") from None


def _umask() -> int:
    mask = os.umask(0)  # the only portable way to read it is to set it; put it straight back
    os.umask(mask)
    return mask


def read_versioned(path: Path, document: str, current: int, migrations: dict[int, Migration]) -> dict[str, Any]:
    """Load a `document` file (results, baselines, ...), migrating old schema versions (migrations[v] turns v into v+1)."""
    return migrate(read_json(path, document), document, str(path), current, migrations)


def read_json(path: Path, document: str) -> Any:
    """The parsed JSON of a `document` file, or a one-line error that says what is wrong with it."""
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise StoreError(f"{document} file {path} does not exist") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise StoreError(
            f"{document} file {path} is not valid JSON ({e}); restore it from version control or delete it and re-record"
        ) from None
    except OSError as e:
        raise StoreError(f"cannot read {document} file {path} ({e.strerror})") from None


def migrate(data: Any, document: str, source: str, current: int, migrations: dict[int, Migration]) -> dict[str, Any]:
    """A document of type `document` (results, baselines) read from `source` (a file, or data embedded in one), migrated to version `current`."""
    if not isinstance(data, dict) or not isinstance(data.get("schema_version"), int):
        raise StoreError(
            f"{document} file {source} has no integer schema_version; it is not a benchharness {document} file"
        )
    version = data["schema_version"]
    if version > current:
        raise StoreError(
            f"{document} file {source} has schema_version {version}, newer than this benchharness reads ({current}); upgrade benchharness"
        )
    while version < current:
        if version not in migrations:
            raise StoreError(
                f"{document} file {source} has schema_version {version}, which cannot be migrated; re-record it"
            )
        data = migrations[version](data)
        version = data["schema_version"]
    return data


@contextmanager
def locked(path: Path) -> Iterator[None]:
    """Hold the lock guarding read-modify-write of `path`, with a clear error if it cannot be taken."""
    lock = lock_for(path)
    if path.parent.exists() and not path.parent.is_dir():
        raise StoreError(f"{path.parent} is a file, not a folder; move it away or point the setting elsewhere")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        lock.acquire()
    except Timeout:
        raise StoreError(f"{path} is locked by another session for over 120 s; retry when it finishes") from None
    except OSError as e:
        raise StoreError(f"cannot lock {path} ({e.strerror}); make {path.parent} writable") from None
    try:
        yield
    finally:
        lock.release()
