"""A team's own evaluation data: read, checked and hashed at start-up, read again (and re-checked) in the child.

A model's accuracy figures are only as meaningful as the data they were scored on; the built-in
data (CPython's pydoc topics) say little about a team's domain. `[tool.benchharness.models.NAME.data]`
names the team's files; this module turns them into an `EvalData` (each file's path, size, SHA-256
and item count) that travels to the child in the typed request, goes into the cache keys, and is
recorded in every case's results. A file that changed after start-up fails the case instead of
scoring other data than the results claim.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import math
from collections.abc import Iterator
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from benchharness.errors import CaseFailed, ConfigError, ReplyError
from benchharness.typed_json import check_keys, read_value

if TYPE_CHECKING:  # settings imports the reply's types, which read this module's
    from benchharness.settings import DataSource

# Top-1 retrieval among fewer documents than this says little about a model (chance is 1 in N).
MIN_PAIRS = 10
PAIR_KEYS = ("query", "positive")
# Fewer prompts or labelled items than this make an accuracy (and a count of flips) that says little.
MIN_PROMPTS = 10
MIN_LABELLED = 10
PROMPT_KEYS = ("prompt", "answer")  # lm-evaluation-harness's doc_to_text / doc_to_target, one field each
LABELLED_KEYS = ("features", "label")
BUILTIN = "built-in: CPython's pydoc_data.topics"


@dataclass(frozen=True)
class DataFile:
    """One evaluation file as it was at start-up."""

    path: str
    size_bytes: int
    sha256: str
    items: int
    item: str  # what an item is: "line" (text), "pair" (retrieval), "prompt" (prompts) or "example" (classification)

    def describe(self) -> str:
        return f"{self.path} ({self.items} {self.item}s, sha256 {self.sha256[:12]})"


@dataclass(frozen=True)
class EvalData:
    """A model's evaluation data; empty fields mean the built-in data for that task."""

    text: tuple[DataFile, ...] = ()
    retrieval: DataFile | None = None
    prompts: DataFile | None = None
    classification: DataFile | None = None

    def _files(self) -> dict[str, DataFile]:
        singles = {"retrieval": self.retrieval, "prompts": self.prompts, "classification": self.classification}
        return {key: file for key, file in singles.items() if file is not None}

    @property
    def declared(self) -> bool:
        return bool(self.text or self._files())

    @property
    def digest(self) -> str:
        """What the data are, for cache keys: every file's content hash (the built-in data: 'builtin')."""
        if not self.declared:
            return "builtin"
        hashes: dict[str, Any] = {"text": [f.sha256 for f in self.text], "retrieval": None}
        # Keys appear only when declared, so a digest recorded before prompts/classification existed still matches.
        hashes |= {key: file.sha256 for key, file in self._files().items()}
        return hashlib.sha256(json.dumps(hashes, sort_keys=True).encode()).hexdigest()[:16]

    def to_json(self) -> dict[str, Any]:
        """What the results record (`info.eval_data`): each file's path, size, SHA-256 and item count, or
        where the built-in data came from; a task without its own file is left out."""
        if not self.declared:
            return {"source": BUILTIN}
        recorded: dict[str, Any] = {}
        if self.text:
            recorded["text"] = [asdict(f) for f in self.text]
        recorded |= {key: asdict(file) for key, file in self._files().items()}
        return recorded

    @classmethod
    def from_json(cls, data: Any, where: str) -> EvalData:
        """Read `to_json`'s object back strictly (typed_json): a ReplyError names the key that does not fit."""
        if isinstance(data, dict) and "source" in data:
            check_keys(data, where, {"source"})
            if data["source"] != BUILTIN:
                raise ReplyError(
                    f"{where}.source is {data['source']!r}, not the built-in data this version knows ({BUILTIN!r}); "
                    "re-record it"
                )
            return cls()
        check_keys(data, where, set(), {"text", "retrieval", "prompts", "classification"})
        found = cls(
            text=read_value(tuple[DataFile, ...], data.get("text", []), f"{where}.text"),
            **{k: read_value(DataFile, v, f"{where}.{k}") for k, v in data.items() if k != "text"},
        )
        if not found.declared:
            raise ReplyError(f"{where} is {data!r}: neither a data file nor the built-in source; re-record it")
        return found


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
    expected = '{"query": "...", "positive": "..."}'
    pairs: list[tuple[str, str]] = []
    # A missing key is worded with an empty one (the pairs' message from before prompts shared this reader).
    for number, item in _json_objects(text, path, where, expected, PAIR_KEYS, required=()):
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


def _json_objects(
    text: str,
    path: Path | str,
    where: str,
    expected: str,
    keys: tuple[str, ...],
    required: tuple[str, ...] | None = None,
) -> Iterator[tuple[int, dict[str, Any]]]:
    """(line number, object) per non-blank JSONL line holding `keys` only, `required` (default: all of them) present;
    a bad line is one ConfigError."""
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
        unknown = sorted(set(item) - set(keys))
        if unknown:
            raise ConfigError(
                f"{where} = '{path}' line {number}: unknown key {unknown[0]!r}; each line holds {expected} only"
            )
        missing = [key for key in (keys if required is None else required) if key not in item]
        if missing:
            raise ConfigError(f"{where} = '{path}' line {number}: {missing[0]!r} is missing; write {expected}")
        yield number, item


def parse_prompts(text: str, path: Path | str, where: str) -> list[tuple[str, str]]:
    """(prompt, answer) per non-blank JSONL line; a bad line is a ConfigError naming its number and the fix."""
    expected = '{"prompt": "...", "answer": "..."}'
    items: list[tuple[str, str]] = []
    for number, item in _json_objects(text, path, where, expected, PROMPT_KEYS):
        for key in PROMPT_KEYS:
            if not isinstance(item[key], str) or not item[key].strip():
                raise ConfigError(
                    f"{where} = '{path}' line {number}: {key!r} is {item[key]!r}, not a non-empty string; write {expected}"
                )
        items.append((item["prompt"], item["answer"]))
    return items


def _prompts_file(path: Path, where: str) -> DataFile:
    raw = _read(path, where)
    items = parse_prompts(_decode(raw, path, where), path, where)
    if len(items) < MIN_PROMPTS:
        raise ConfigError(
            f"{where} = '{path}' has {len(items)} prompts; exact match needs at least {MIN_PROMPTS} "
            "(on fewer, one flip moves accuracy by over 10 points); add prompts"
        )
    return DataFile(str(path), len(raw), hashlib.sha256(raw).hexdigest(), len(items), "prompt")


def _number(value: object, path: Path | str, where: str, number: int, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ConfigError(f"{where} = '{path}' line {number}: {what} {value!r} is not a number; write numbers only")
    try:
        x = float(value)
    except ValueError:
        hint = " (a CSV has no header line)" if number == 1 else ""
        raise ConfigError(
            f"{where} = '{path}' line {number}: {what} {value!r} is not a number{hint}; write numbers only"
        ) from None
    if not math.isfinite(x):
        raise ConfigError(f"{where} = '{path}' line {number}: {what} {value!r} is not finite; write finite numbers")
    return x


def _label(value: object, path: Path | str, where: str, number: int) -> int:
    x = _number(value, path, where, number, "label")
    if x != int(x) or x < 0:
        raise ConfigError(
            f"{where} = '{path}' line {number}: label {value!r} is not a class index; write an integer 0, 1, 2, ..."
        )
    return int(x)


@dataclass(frozen=True)
class Labelled:
    """A classification file's items: each one's line number, features and label."""

    lines: tuple[int, ...]
    features: tuple[tuple[float, ...], ...]
    labels: tuple[int, ...]


def check_labelled(labelled: Labelled, width: int | None, classes: int | None, path: Path | str, where: str) -> None:
    """Refuse items the model cannot take: another input width, a label beyond its classes (None: unknown)."""
    if width is not None and labelled.features and len(labelled.features[0]) != width:
        raise ConfigError(
            f"{where} = '{path}' line {labelled.lines[0]} has {len(labelled.features[0])} features, but the model "
            f"takes {width}; give every item {width} features, then its label"
        )
    if classes is not None:
        for line, label in zip(labelled.lines, labelled.labels, strict=True):
            if label >= classes:
                raise ConfigError(
                    f"{where} = '{path}' line {line}: label {label} is not one of the model's {classes} classes "
                    f"(0..{classes - 1}); fix the label"
                )


def parse_labelled(text: str, path: Path | str, where: str) -> Labelled:
    """(feature rows, labels) from a CSV (features, then the label last) or a JSONL file (by its suffix).

    Every row must have the same width: a ragged file would be fed to the model as another input.
    """
    rows: list[tuple[int, list[object], object]] = []
    if str(path).endswith(".jsonl"):
        expected = '{"features": [0.0, ...], "label": 0}'
        for number, item in _json_objects(text, path, where, expected, LABELLED_KEYS):
            if not isinstance(item["features"], list) or not item["features"]:
                raise ConfigError(
                    f"{where} = '{path}' line {number}: 'features' is {item['features']!r}, not a list of numbers"
                )
            rows.append((number, item["features"], item["label"]))
    else:
        for number, fields in enumerate(csv.reader(io.StringIO(text)), 1):
            if not fields or not any(c.strip() for c in fields):
                continue
            if len(fields) < 2:
                raise ConfigError(
                    f"{where} = '{path}' line {number} has {len(fields)} value; write the features, then the label"
                )
            rows.append((number, list(fields[:-1]), fields[-1].strip()))
    features: list[tuple[float, ...]] = []
    labels: list[int] = []
    width = len(rows[0][1]) if rows else 0
    for number, cells, label in rows:
        if len(cells) != width:
            raise ConfigError(
                f"{where} = '{path}' line {number} has {len(cells)} features, line {rows[0][0]} has {width}; "
                "give every item the model's input width"
            )
        features.append(tuple(_number(c, path, where, number, "feature") for c in cells))
        labels.append(_label(label, path, where, number))
    return Labelled(tuple(number for number, _, _ in rows), tuple(features), tuple(labels))


def _labelled_file(path: Path, where: str) -> DataFile:
    raw = _read(path, where)
    if path.suffix not in (".csv", ".jsonl"):
        raise ConfigError(f"{where} = '{path}' is neither .csv nor .jsonl; save it as one of them")
    items = len(parse_labelled(_decode(raw, path, where), path, where).labels)
    if items < MIN_LABELLED:
        raise ConfigError(
            f"{where} = '{path}' has {items} labelled items; accuracy needs at least {MIN_LABELLED}; add items"
        )
    return DataFile(str(path), len(raw), hashlib.sha256(raw).hexdigest(), items, "example")


# Which data each kind scores on: the keys that declare them.
KIND_DATA = {"causal-lm": ("text", "prompts"), "encoder": ("retrieval",), "classifier": ("classification",)}


def load(source: DataSource, kind: str, where: str) -> EvalData:
    """Read, check and hash a model's declared data (at start-up); nothing declared: the built-in data."""
    given = {
        "text": bool(source.text),
        "retrieval": source.retrieval,
        "prompts": source.prompts,
        "classification": source.classification,
    }
    for key in (key for key, value in given.items() if value):
        fits = KIND_DATA.get(kind, ())
        if key not in fits:
            use = " or ".join(f"{where}.{k}" for k in fits)
            fix = f"use {use}" if fits else f"a {kind} scores on its built-in data"
            raise ConfigError(f"{where}.{key} is not scored for kind = {kind!r}; {fix}")

    def one(path: Path | None, read: Any, key: str) -> DataFile | None:
        return read(path, f"{where}.{key}") if path else None

    return EvalData(
        text=tuple(_text_file(path, f"{where}.text") for path in source.text),
        retrieval=one(source.retrieval, _pairs_file, "retrieval"),
        prompts=one(source.prompts, _prompts_file, "prompts"),
        classification=one(source.classification, _labelled_file, "classification"),
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


def read_prompts(file: DataFile) -> list[tuple[str, str]]:
    return parse_prompts(_reread(file), file.path, "data.prompts")


def read_labelled(file: DataFile) -> Labelled:
    return parse_labelled(_reread(file), file.path, "data.classification")
