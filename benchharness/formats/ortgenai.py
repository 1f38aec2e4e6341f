"""ONNX Runtime GenAI variants: made by onnxruntime-genai's own model builder, as its users deploy them.

The builder writes a folder with `model.onnx` (+ external data), `genai_config.json` and the
tokenizer files. Its graphs differ from optimum's generic export (fused QKV, GroupQueryAttention,
rotary caches, MatMulNBits with int8 compute for INT4/INT8 on CPU), which is why ONNX Runtime as
deployed decodes 2-3x faster than the generic export on the same weights. Precision is the
builder's `-p`; every other option is the builder's default for the execution provider, except
where a variant names `extra_options` (builder 0.15.2 writes an INT8 model it cannot load when
the tied embedding and LM head share one quantized weight, so INT8 keeps them separate).

The builder runs offline from the HF checkpoint folder. onnxruntime-genai is pinned to 0.15.x:
later builders import model classes that exist only in transformers 5, which optimum-intel's pin
(transformers 4.57) excludes.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchharness.errors import ModelError, PrepareError
from benchharness.formats.base import Graph, check_folder
from benchharness.formats.composition import WeightComposition

MODEL_FILE = "model.onnx"
CONFIG_FILE = "genai_config.json"


def model_file(path: Path) -> Path:
    return path / MODEL_FILE


def read_config(path: Path) -> dict[str, Any]:
    """The variant's genai_config.json, or a ModelError saying how to get a good one."""
    config_path = path / CONFIG_FILE
    try:
        config: dict[str, Any] = json.loads(config_path.read_text())
    except FileNotFoundError:
        raise ModelError(f"{path} has no {CONFIG_FILE}; it is not an onnxruntime-genai model (re-prepare it)") from None
    except json.JSONDecodeError as e:
        raise ModelError(f"{config_path} is not valid JSON ({e}); re-prepare the variant") from None
    return config


def build(source: Path | None, destination: Path, params: Mapping[str, Any], threads: int) -> None:
    """Recipe: `python -m onnxruntime_genai.models.builder -i HF_DIR -o OUT -p PRECISION -e EP`, offline."""
    assert source is not None
    with tempfile.TemporaryDirectory(prefix="ortgenai-builder-") as scratch:
        command = [
            sys.executable,
            "-m",
            "onnxruntime_genai.models.builder",
            "-i",
            str(source),
            "-o",
            str(destination),
            "-p",
            params["precision"],
            "-e",
            params["execution_provider"],
            "-c",
            scratch,
        ]
        if params.get("extra_options"):
            command += ["--extra_options", *params["extra_options"].split()]
        env = {"HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "OMP_NUM_THREADS": str(threads)}
        done = subprocess.run(command, capture_output=True, text=True, env=dict(os.environ) | env, check=False)
    if done.returncode != 0 or not model_file(destination).is_file():
        tail = [line for line in (done.stderr or done.stdout).splitlines() if line.strip()][-3:]
        raise PrepareError(
            f"onnxruntime-genai's builder failed (exit {done.returncode}): {' | '.join(tail)[:400]}; "
            "check that onnxruntime-genai 0.15.x and transformers 4.57 are installed"
        )


@dataclass(frozen=True)
class OrtGenAiFormat:
    """An ONNX Runtime GenAI folder: model.onnx with genai_config.json, as its builder writes it."""

    name: str = "ortgenai"
    suffixes: tuple[str, ...] = ()  # a folder: told by format = 'ortgenai'
    graph: Graph = "onnx"

    def model_file(self, variant: Path) -> Path:
        return model_file(variant)

    def check(self, variant: Path) -> None:
        check_folder(self.name, variant, CONFIG_FILE)

    def weight_composition(self, variant: Path, requested: str | None) -> WeightComposition | None:
        from benchharness.formats.onnx import weight_composition

        return weight_composition(model_file(variant), requested)


FORMAT = OrtGenAiFormat()
