"""Hugging Face checkpoints: the full-precision weights that the ONNX, OpenVINO and MLX exporters start from."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from benchharness.errors import PrepareError


def hf_from_gguf(source: Path | None, destination: Path, params: Mapping[str, str], threads: int) -> None:
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
