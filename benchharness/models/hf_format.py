"""Hugging Face checkpoints: the full-precision weights that the ONNX, OpenVINO and MLX exporters start from.

A team declares its own checkpoint folder as a model's `source`; it is checked here at start-up, and
its config.json says what kind of model it is.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from benchharness.errors import ConfigError, PrepareError


def hf_from_gguf(source: Path | None, destination: Path, params: Mapping[str, Any], threads: int) -> None:
    """Recipe: transformers dequantizes a GGUF into an FP32 checkpoint (the same weights llama.cpp's F32 holds)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    assert source is not None
    torch.set_num_threads(threads)
    try:
        tokenizer = AutoTokenizer.from_pretrained(source.parent, gguf_file=source.name)
        model = AutoModelForCausalLM.from_pretrained(source.parent, gguf_file=source.name, torch_dtype=torch.float32)
    except (OSError, ValueError) as e:
        raise PrepareError(f"transformers could not read {source} as GGUF ({e}); check the file") from None
    model.save_pretrained(destination)
    tokenizer.save_pretrained(destination)


# What a checkpoint folder holds besides config.json: weights in one of these shapes, and a tokenizer.
WEIGHT_FILES = (
    "model.safetensors",
    "pytorch_model.bin",
    "model.safetensors.index.json",
    "pytorch_model.bin.index.json",
)
TOKENIZER_FILES = ("tokenizer.json", "tokenizer.model", "vocab.txt", "vocab.json")
# config.json's `architectures` suffixes -> model kind (benchharness.kinds), most specific first.
ARCHITECTURE_KINDS = (
    ("ForCausalLM", "causal-lm"),
    ("LMHeadModel", "causal-lm"),
    ("ForSequenceClassification", "classifier"),
    ("Model", "encoder"),
)


def check_checkpoint(path: Path, where: str) -> None:
    """Fail at start-up, with the fix, on a source that is not a Hugging Face checkpoint folder."""
    hint = "point source at the folder that save_pretrained() wrote (config.json, weights, tokenizer)"
    if not path.exists():
        raise ConfigError(f"{where} = '{path}' does not exist; {hint}")
    if not path.is_dir():
        raise ConfigError(
            f"{where} = '{path}' is a file, not a checkpoint folder; {hint}, "
            "or declare a .gguf / .onnx / .xml file under [models.NAME.variants]"
        )
    if not (path / "config.json").is_file():
        raise ConfigError(f"{where} = '{path}' has no config.json, so it is not a Hugging Face checkpoint; {hint}")
    if not any((path / name).is_file() for name in WEIGHT_FILES) and not any(path.glob("*.safetensors")):
        raise ConfigError(
            f"{where} = '{path}' has no weights ({' or '.join(WEIGHT_FILES[:2])}); copy the weights into it, {hint}"
        )
    if not any((path / name).is_file() for name in TOKENIZER_FILES):
        raise ConfigError(
            f"{where} = '{path}' has no tokenizer ({', '.join(TOKENIZER_FILES)}); "
            "save the tokenizer beside the weights (tokenizer.save_pretrained(folder))"
        )


def checkpoint_kind(path: Path) -> str | None:
    """The model kind a checkpoint's config.json declares through its `architectures`, or None if it says none."""
    try:
        config = json.loads((path / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise ConfigError(
            f"{path / 'config.json'} cannot be read as JSON ({e}); fix or re-save the checkpoint"
        ) from None
    architectures = config.get("architectures") if isinstance(config, dict) else None
    for architecture in architectures if isinstance(architectures, list) else []:
        for suffix, kind in ARCHITECTURE_KINDS:
            if isinstance(architecture, str) and architecture.endswith(suffix):
                return kind
    return None
