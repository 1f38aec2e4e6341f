"""`benchharness init CHECKPOINT`: a suite file and a commented configuration for a team's checkpoint.

The first step of "your model, your data": a team points the harness at the folder save_pretrained()
wrote and gets, in its own repository, the two files that pytest needs and nothing else. The
checkpoint is checked (and its kind read off config.json) by the same code the session runs at
start-up, so a folder `init` accepts is one the first `pytest` run accepts. Existing files are
never overwritten: a team's pyproject.toml is theirs.
"""

from __future__ import annotations

import os
import re
from dataclasses import dataclass
from pathlib import Path

from benchharness.errors import ConfigError
from benchharness.models.registry import build_registry
from benchharness.settings import ModelConfig

# Per kind: the data key, an example data file, and the backends that load what a checkpoint makes.
KIND_NOTES = {
    "encoder": (
        "retrieval",
        "eval/pairs.jsonl",
        'one {"query": "...", "positive": "..."} per line, at least 10; default: CPython\'s pydoc topics',
        ("onnxruntime", "openvino"),
    ),
    "causal-lm": (
        "text",
        "eval/corpus.txt",
        "prose (a file or a list of files) for next-token top-1, perplexity and KL; default: CPython's pydoc topics",
        ("llamacpp", "onnxruntime", "onnxruntime-genai", "openvino", "openvino-genai", "mlx"),
    ),
}


# A commented example of declared recipe variants, per kind (checked by tests/test_recipes.py).
VARIANT_EXAMPLES = {
    "encoder": 'int8-pc = { recipe = "ort-dynamic-int8", per_channel = true }',
    "causal-lm": 'int4-g128 = { recipe = "nncf-weight-compression", mode = "int4_asym", group_size = 128, ratio = 0.8 }',
}


@dataclass(frozen=True)
class Scaffold:
    """The files `init` writes, by path, and what it tells the user to run next."""

    files: dict[Path, str]
    next_step: str


def model_name(checkpoint: Path) -> str:
    """A model name from the checkpoint folder's name: lower case, letters, digits and dashes."""
    name = re.sub(r"[^a-z0-9]+", "-", checkpoint.resolve().name.lower()).strip("-")
    return name or "my-model"


def _toml_string(value: str) -> str:
    return '"' + value.replace("\\", "\\\\").replace('"', '\\"') + '"'


def configuration(name: str, source: str, kind: str, run: str) -> str:
    data_key, data_file, data_note, backends = KIND_NOTES[kind]
    table = f"tool.benchharness.models.{name}"
    article = "an" if kind[0] in "aeiou" else "a"
    return f"""\
# benchharness: {name}, {article} {kind} model from its Hugging Face checkpoint folder (written by `benchharness init`).
# Run: {run}     Then: benchharness compare / report / history on reports/.

[{table}]
# The checkpoint folder (config.json + weights + tokenizer), relative to this file. Every runtime's
# variants are made from it by that runtime's own tools and cached: ONNX and OpenVINO IR (optimum),
{"# ONNX Runtime GenAI (its model builder), MLX (mlx_lm.convert), each at full and reduced precision." if kind == "causal-lm" else "# each at FP32 and INT8."}
source = {_toml_string(source)}
kind = "{kind}"

# Your own evaluation data ({data_note}).
# [{table}.data]
# {data_key} = "{data_file}"

# More variants, each made by a recipe with its parameters (the README's recipe table lists them all):
# [{table}.variants]
# {VARIANT_EXAMPLES[kind]}

[tool.benchharness.suites.{name}]
models = ["{name}"]
# Leave out to run every runtime installed here that loads this model: {", ".join(backends)}.
# backends = [{", ".join(f'"{b}"' for b in backends[:2])}]
# variants = ["fp32", "int8"]

# Each reduced-precision variant is judged against its runtime's FP32 reference. The defaults:
# keep 95% of the reference's accuracy, run 2x as fast, use half the memory. Turn one off with
# `speedup = false`, or declare a breach you accept with known_breaches = ["int8"].
[tool.benchharness.suites.{name}.gates.accuracy_retained]
min = 0.95
"""


def suite_file(name: str) -> str:
    return f'''"""{name}: the matrix and the gates live in the configuration, [tool.benchharness.suites.{name}]."""

import pytest

pytestmark = pytest.mark.benchsuite("{name}")


def test_{name.replace("-", "_")}(bench_case, bench):
    bench.check(bench_case)
'''


def scaffold(checkpoint: Path, folder: Path, name: str | None, kind: str | None, config: str) -> Scaffold:
    """What `init` would write into `folder` for `checkpoint`, checked as the session will check it."""
    name = name or model_name(checkpoint)
    if not re.fullmatch(r"[a-z0-9][a-z0-9-]*", name):
        raise ConfigError(f"--name {name!r} must be lower-case letters, digits and dashes, e.g. my-encoder")
    source = os.path.relpath(checkpoint.resolve(), folder.resolve())
    model = build_registry([ModelConfig(name, None, {}, kind=kind, source=checkpoint.resolve())])[name]
    config_path = folder / config
    suite_path = folder / f"test_{name.replace('-', '_')}.py"
    existing = [p for p in (config_path, suite_path) if p.exists()]
    if existing:
        fix = (
            "pass --config benchharness.toml to write the configuration beside it (then run pytest --bench-config "
            "benchharness.toml)"
            if config_path in existing and config == "pyproject.toml"
            else "move it away or choose another --name / --config"
        )
        raise ConfigError(f"{existing[0]} already exists and is not overwritten; {fix}")
    run = "pytest --device=auto" + ("" if config == "pyproject.toml" else f" --bench-config {config}")
    return Scaffold({config_path: configuration(name, source, model.kind, run), suite_path: suite_file(name)}, run)


def write(plan: Scaffold) -> None:
    for path, text in plan.files.items():
        with path.open("x", encoding="utf-8") as f:  # "x": never overwrite, even if one appeared since the check
            f.write(text)
