"""A team's own evaluation data: read, checked and hashed at start-up, read again (and re-checked) in the child.

A model's accuracy figures are only as meaningful as the data they were scored on; the built-in
data (CPython's pydoc topics) say little about a team's domain. `[tool.benchharness.models.NAME.data]`
names the team's files; this module turns them into an `EvalData` (each file's path, size, SHA-256
and item count) that travels to the child in the typed request, goes into the cache keys, and is
recorded in every case's results. A file that changed after start-up fails the case instead of
scoring other data than the results claim.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from benchharness.config import DataSource
from benchharness.errors import CaseFailed, ConfigError

# Top-1 retrieval among fewer documents than this says little about a model (chance is 1 in N).
MIN_PAIRS = 10
PAIR_KEYS = ("query", "positive")
BUILTIN = "built-in: CPython's pydoc_data.topics"


@dataclass(frozen=True)
class DataFile:
    """One evaluation file as it was at start-up."""

    path: str
    size_bytes: int
    sha256: str
    items: int
    item: str  # what an item is: "line" (text) or "pair" (retrieval)

    def describe(self) -> str:
        return f"{self.path} ({self.items} {self.item}s, sha256 {self.sha256[:12]})"


@dataclass(frozen=True)
class EvalData:
    """A model's evaluation data; empty fields mean the built-in data for that task."""

    text: tuple[DataFile, ...] = ()
    retrieval: DataFile | None = None

    @property
    def digest(self) -> str:
        """What the data are, for cache keys: every file's content hash (the built-in data: 'builtin')."""
        if not self.text and self.retrieval is None:
            return "builtin"
        hashes = {"text": [f.sha256 for f in self.text], "retrieval": self.retrieval and self.retrieval.sha256}
        return hashlib.sha256(json.dumps(hashes, sort_keys=True).encode()).hexdigest()[:16]

    def info(self) -> dict[str, Any]:
        """What the results record: each file's path, size, SHA-256 and item count."""
        if not self.text and self.retrieval is None:
            return {"source": BUILTIN}
        recorded: dict[str, Any] = {}
        if self.text:
            recorded["text"] = [asdict(f) for f in self.text]
        if self.retrieval is not None:
            recorded["retrieval"] = asdict(self.retrieval)
        return recorded


def _read(path: Path, where: str) -> bytes:
    if not path.exists():
        raise ConfigError(f"{where} = '{path}' does not exist; fix the path (relative to the file that declares it)")
    if path.is_dir():
        raise ConfigError(f"{where} = '{path}' is a folder; name a file")
    try:
        return path.read_bytes()
    except OSError as e:
        raise ConfigError(f"{where} = '{path}' cannot be read ({e.strerror}); check its permissions") from None


def _decode(raw: bytes, path: Path, where: str) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as e:
        raise ConfigError(
            f"{where} = '{path}' is not UTF-8 text ({e.reason} at byte {e.start}); save it as UTF-8"
        ) from None


def _text_file(path: Path, where: str) -> DataFile:
    raw = _read(path, where)
    text = _decode(raw, path, where)
    if not text.strip():
        raise ConfigError(f"{where} = '{path}' is empty; put the prose the model should predict in it")
    lines = sum(1 for line in text.splitlines() if line.strip())
    return DataFile(str(path), len(raw), hashlib.sha256(raw).hexdigest(), lines, "line")


def parse_pairs(text: str, path: Path | str, where: str) -> list[tuple[str, str]]:
    """(query, positive document) per non-blank JSONL line; a bad line is a ConfigError naming its number."""
    pairs: list[tuple[str, str]] = []
    expected = '{"query": "...", "positive": "..."}'
    for number, line in enumerate(text.splitlines(), 1):
        if not line.strip():
            continue
        try:
            item = json.loads(line)
        except ValueError as e:
            raise ConfigError(
                f"{where} = '{path}' line {number} is not JSON ({e}); write one {expected} per line"
            ) from None
        if not isinstance(item, dict):
            raise ConfigError(f"{where} = '{path}' line {number} is {type(item).__name__}, not an object {expected}")
        unknown = sorted(set(item) - set(PAIR_KEYS))
        if unknown:
            raise ConfigError(
                f"{where} = '{path}' line {number}: unknown key {unknown[0]!r}; each line holds {expected} only"
            )
        for key in PAIR_KEYS:
            if not isinstance(item.get(key), str) or not item[key].strip():
                raise ConfigError(
                    f"{where} = '{path}' line {number}: {key!r} is missing or not a non-empty string; write {expected}"
                )
        pairs.append((item["query"], item["positive"]))
    return pairs


def _pairs_file(path: Path, where: str) -> DataFile:
    raw = _read(path, where)
    pairs = parse_pairs(_decode(raw, path, where), path, where)
    if len(pairs) < MIN_PAIRS:
        raise ConfigError(
            f"{where} = '{path}' has {len(pairs)} query/document pairs; top-1 retrieval needs at least {MIN_PAIRS} "
            "(among fewer documents it says little); add pairs"
        )
    return DataFile(str(path), len(raw), hashlib.sha256(raw).hexdigest(), len(pairs), "pair")


# Which data each kind scores on, and the key that declares it.
KIND_DATA = {"causal-lm": "text", "encoder": "retrieval"}


def load(source: DataSource, kind: str, where: str) -> EvalData:
    """Read, check and hash a model's declared data (at start-up); nothing declared: the built-in data."""
    declared = [key for key, given in (("text", bool(source.text)), ("retrieval", source.retrieval)) if given]
    for key in declared:
        if KIND_DATA.get(kind) != key:
            fits = f"use {where}.{KIND_DATA[kind]}" if kind in KIND_DATA else f"a {kind} scores on its built-in data"
            raise ConfigError(f"{where}.{key} is not scored for kind = {kind!r}; {fits}")
    return EvalData(
        text=tuple(_text_file(path, f"{where}.text") for path in source.text),
        retrieval=_pairs_file(source.retrieval, f"{where}.retrieval") if source.retrieval else None,
    )


def _reread(file: DataFile) -> str:
    """A file's text in the child, refused if it changed since start-up (the results name its SHA-256)."""
    path = Path(file.path)
    try:
        raw = path.read_bytes()
    except OSError as e:
        raise CaseFailed(
            f"evaluation file {path} cannot be read now ({e.strerror}); it was there at start-up"
        ) from None
    if hashlib.sha256(raw).hexdigest() != file.sha256:
        raise CaseFailed(
            f"evaluation file {path} changed during the session (SHA-256 no longer {file.sha256[:12]}); run again"
        )
    return raw.decode("utf-8")


def read_text(data: EvalData) -> str:
    """The declared text files, joined by blank lines (as the pydoc topics are)."""
    return "\n\n".join(_reread(f) for f in data.text)


def read_pairs(file: DataFile) -> list[tuple[str, str]]:
    return parse_pairs(_reread(file), file.path, "data.retrieval")
