"""What a variant's size readings count: the weights the runtime loads, and its tokenizer files apart.

A variant folder holds more than weights: the exporters copy the tokenizer (SmolLM2's
`tokenizer.model` alone is 98 MB, as much as its INT4 graph) and small config files beside the
graph. Counting them all as "model file size" made an ONNX folder look heavier than the GGUF
holding the same weights and hid what a quantizer saved. So each file is sorted by its name:
tokenizer files (a fixed list of the names the tokenizer libraries write), text metadata
(`*.json`, `*.txt`, ...: configs, counted in neither reading) and weights (everything else: the
graph or IR and its weight files, what the runtime maps). A single-file variant (a GGUF, a bare
`.onnx`) is all weights; a GGUF carries its tokenizer inside, which cannot be told apart.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

TOKENIZER_FILES = frozenset(
    {
        "tokenizer.json",
        "tokenizer.model",
        "tokenizer_config.json",
        "special_tokens_map.json",
        "added_tokens.json",
        "vocab.json",
        "vocab.txt",
        "merges.txt",
        "spiece.model",
        "sentencepiece.bpe.model",
        "chat_template.jinja",
        "openvino_tokenizer.xml",
        "openvino_tokenizer.bin",
        "openvino_detokenizer.xml",
        "openvino_detokenizer.bin",
    }
)
METADATA_SUFFIXES = frozenset({".json", ".txt", ".md", ".yaml", ".yml", ".jinja", ".py"})


@dataclass(frozen=True)
class FileSizes:
    """Bytes on disk by role; `tokenizer_bytes` is None where the variant has no separate tokenizer files."""

    weights_bytes: int
    tokenizer_bytes: int | None
    metadata_bytes: int


def role(name: str) -> str:
    """'tokenizer', 'metadata' or 'weights' for a file in a variant folder, by its name."""
    if name in TOKENIZER_FILES:
        return "tokenizer"
    if Path(name).suffix.lower() in METADATA_SUFFIXES:
        return "metadata"
    return "weights"


def file_sizes(path: Path) -> FileSizes:
    """The variant's bytes by role (a file is all weights); see the module docstring for what counts."""
    if not path.is_dir():
        return FileSizes(path.stat().st_size, None, 0)
    totals = {"weights": 0, "tokenizer": 0, "metadata": 0}
    tokenizer_files = 0
    for file in path.rglob("*"):
        if file.is_file():
            kind = role(file.name)
            totals[kind] += file.stat().st_size
            tokenizer_files += kind == "tokenizer"
    return FileSizes(totals["weights"], totals["tokenizer"] if tokenizer_files else None, totals["metadata"])
