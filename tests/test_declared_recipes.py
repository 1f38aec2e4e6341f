"""Recipes declared in a project's pyproject.toml, tried from outside as a team would.

Each bad declaration stops pytest at start-up (exit 4) with one line naming the value and what would
work, never an empty parameter set; a declared recipe with non-default parameters is prepared and
measured on ONNX Runtime, and what it made shows that the parameters reached onnxruntime's quantizer.
The project is the digits suite: real measurements in seconds.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from conftest import DIGITS_SUITE, cases_by, run_pytest, write_project

pytest.importorskip("onnxruntime", reason="pip install 'benchharness[onnx]'")
pytest.importorskip("sklearn", reason="pip install 'benchharness[exporters]'")

PYPROJECT = """
[tool.benchharness]
cache_dir = "cache"
[tool.benchharness.workload]
min_rounds = 6
min_time_s = 0.2
[tool.benchharness.models.digits-mlp.variants]
VARIANTS
[tool.benchharness.suites.d]
models = MODELS
backends = BACKENDS
SUITE_LINES
[tool.benchharness.suites.d.gates]
speedup = false
memory_reduction = false
"""


def project(
    root: Path, variants: str, models: str = '["digits-mlp"]', backends: str = '["onnxruntime"]', suite_lines: str = ""
) -> Path:
    text = PYPROJECT.replace("VARIANTS", variants).replace("MODELS", models).replace("BACKENDS", backends)
    return write_project(root, text.replace("SUITE_LINES", suite_lines), DIGITS_SUITE, "test_d.py")


@pytest.mark.parametrize(
    ("declaration", "expected"),
    [
        (
            {"variants": 'x = { recipe = "nncf-compress" }'},
            r"variants\.x: recipe = 'nncf-compress' is unknown; recipes: llama-quantize, llama-convert-hf, hf-from-gguf, ",
        ),
        (
            {"variants": 'x = { recipe = "ort-dynamic-int8", perchannel = true }'},
            r"unknown parameter 'perchannel'; its parameters: weight_type, per_channel, reduce_range",
        ),
        (
            {"variants": 'x = { recipe = "ort-dynamic-int8", per_channel = "yes" }'},
            r"per_channel = 'yes' must be true or false; e\.g\. per_channel = false",
        ),
        (
            {"variants": 'x = { recipe = "ort-int4-weight-only", block_size = 100 }'},
            r"block_size = 100 is not a valid block_size; valid: 16, 32, 64, 128, 256",
        ),
        (
            {"variants": 'x = { recipe = "nncf", mode = "int4_asym", ratio = 2 }'},
            r"recipe 'nncf-weight-compression': ratio = 2\.0 is out of range; it must be in 0\.\.1",
        ),
        (
            {"variants": 'x = { recipe = "nncf", mode = "int4_asym" }'},
            r"reads openvino, but model digits-mlp has no openvino variant: declare one with path = '\.\.\.', format",
        ),
        (
            {
                "variants": 'x = { recipe = "ort-dynamic-int8" }\n[tool.benchharness.models.smollm2-135m.variants]\n'
                'ov4 = { recipe = "nncf", mode = "int4_sym", from = "q4_0" }'
            },
            r"smollm2-135m\.variants\.ov4: recipe = 'nncf-weight-compression' reads openvino only, but from 'q4_0' is "
            r"a gguf variant; set from = one of its openvino variants: fp32, fp16, int8, int4$",
        ),
        (
            {"variants": 'x = { recipe = "ort-dynamic-int8", from = "fp64" }'},
            r"variants\.x: from = 'fp64' is not a onnx variant; variants: fp32, int8, x",
        ),
        (
            {"variants": 'x = { recipe = "ort-genai-builder", precision = "int4" }'},
            r"recipe 'ort-genai-builder' makes nothing a classifier model's backends load",
        ),
        (
            {"variants": 'x = { recipe = "ort-dynamic-int8" }', "backends": '["llamacpp"]'},
            r"no backend in llamacpp can load model 'digits-mlp' \(classifier; formats: onnx\).*backends that can: ",
        ),
        (
            {
                "variants": 'x = { recipe = "ort-dynamic-int8" }\n[tool.benchharness.models.minilm-l6.variants]\n'
                'pc = { recipe = "ort-dynamic-int8", per_channel = true }',
                "models": '["minilm-l6"]',
                "backends": '["openvino"]',
                "suite_lines": 'variants = ["fp32", "pc"]',
            },
            r"variants names 'pc', which no backend in openvino loads: it is minilm-l6 onnx, loaded by onnxruntime; add",
        ),
    ],
    ids=[
        "unknown-recipe",
        "unknown-parameter",
        "wrong-type",
        "not-allowed",
        "out-of-range",
        "format-unreachable",
        "base-of-another-format",
        "no-such-base",
        "wrong-kind",
        "no-backend-loads-the-model",
        "no-backend-loads-the-quant",
    ],
)
def test_each_bad_recipe_declaration_stops_pytest_at_start_up_with_one_line(
    tmp_path: Path, declaration: dict[str, str], expected: str
) -> None:
    root = project(tmp_path / "project", **declaration)
    code, output = run_pytest(root, "--no-baseline")
    assert code == 4, output[-3000:]
    lines = [line for line in output.splitlines() if re.search(expected, line)]
    assert len(lines) == 1, output[-3000:]
    assert lines[0].startswith("ERROR: benchharness: "), lines[0]
    assert "Traceback" not in output and "empty parameter set" not in output
    assert not (root / "reports").exists() and not (root / "cache" / "onnx").exists()  # nothing made or measured


def _quantized_weights(graph: Path) -> list[tuple[str, tuple[int, ...]]]:
    """(weight type, its scale's shape) of each MatMul weight onnxruntime's dynamic quantizer wrote."""
    import onnx

    model = onnx.load(str(graph))
    initializers = {t.name: t for t in model.graph.initializer}
    found = []
    for node in model.graph.node:
        if node.op_type in ("MatMulInteger", "DynamicQuantizeMatMul", "MatMulIntegerToFloat"):
            weight = initializers[node.input[1]]
            scale = initializers[weight.name.replace("_quantized", "_scale")]  # feeds a Mul after the MatMul
            found.append((onnx.TensorProto.DataType.Name(weight.data_type), tuple(scale.dims)))
    return found


@pytest.mark.e2e
def test_a_declared_recipe_with_its_parameters_is_made_and_measured_on_onnxruntime(tmp_path: Path) -> None:
    variants = (
        'dyn = { recipe = "ort-dynamic-int8" }\n'
        'dyn-pc = { recipe = "ort-dynamic-int8", per_channel = true, weight_type = "quint8" }'
    )
    root = project(tmp_path / "project", variants, suite_lines='variants = ["fp32", "dyn", "dyn-pc"]')
    code, output = run_pytest(root, "--no-baseline", "-rA")
    assert code == 0, output[-4000:]
    cases = cases_by(root, "variant")
    assert set(cases) == {"fp32", "dyn", "dyn-pc"}
    assert all(c["outcome"] == "passed" for c in cases.values()), {q: c["message"] for q, c in cases.items()}
    made = {}
    for quant in ("dyn", "dyn-pc"):
        folder = Path(cases[quant]["info"]["variant_file"])
        assert folder.is_relative_to(root / "cache" / "onnx" / "digits-mlp"), folder
        manifest = json.loads(folder.with_name(folder.name + ".json").read_text())
        assert manifest["recipe"] == "ort-dynamic-int8" and manifest["base"] == "onnx fp32"
        made[quant] = (manifest["params"], _quantized_weights(folder / "model.onnx"))
        assert cases[quant]["readings"]["heldout_accuracy"]["value"] > 0.9, cases[quant]["readings"]
    # The defaults (per tensor, signed) against the declared per-channel unsigned weights, in the graphs made.
    assert made["dyn"][0] == {} and made["dyn-pc"][0] == {"per_channel": "true", "weight_type": "QUInt8"}
    assert made["dyn"][1] and all(kind == "INT8" and shape in ((), (1,)) for kind, shape in made["dyn"][1])
    widths = [shape for kind, shape in made["dyn-pc"][1] if kind == "UINT8"]
    assert len(widths) == len(made["dyn-pc"][1]) and all(shape[-1] > 1 for shape in widths), made["dyn-pc"][1]
    assert cases["dyn"]["info"]["variant_key"] != cases["dyn-pc"]["info"]["variant_key"]


@pytest.mark.parametrize(
    ("args", "suite_lines", "reason"),
    [
        (
            ["--variant=q8_0"],
            "",
            r"--variant=q8_0 selects none of suite d's cases; it runs variants fp32, int8, x: name those to run them",
        ),
        (["--backend=openvino"], "", r"--backend=openvino selects none of suite d's cases; it runs backends onnx"),
        ([], 'devices = ["cuda"]', r"suite d runs on cuda; --device=cpu names none of them"),
    ],
)
def test_a_command_line_that_selects_no_case_of_a_suite_says_why(
    tmp_path: Path, args: list[str], suite_lines: str, reason: str
) -> None:
    """A filter meant for another suite is no error, but the skip says what left the suite empty."""
    root = project(tmp_path / "project", 'x = { recipe = "ort-dynamic-int8" }', suite_lines=suite_lines)
    code, output = run_pytest(root, "--no-baseline", "-rs", *args)
    assert code == 0, output[-3000:]
    assert "empty parameter set" not in output and re.search(reason, output), output[-3000:]
    assert "1 skipped" in output
