"""Honest labels: each variant's parameters per stored type, its bits per weight, and the warning.

GGUF files are written with gguf's own writer and quantizer (the real block layouts); ONNX and
OpenVINO compositions are read off the digits MLP's real fp32 and int8 variants and an IR that
OpenVINO and NNCF make from it.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from benchharness.formats import composition as comp
from benchharness.formats.composition import WeightComposition, composition
from conftest import cases_by, digits_project, run_digits

gguf = pytest.importorskip("gguf")


def write_gguf(path: Path, file_type: int, tensors: dict[str, tuple[str, tuple[int, int]]]) -> None:
    """A GGUF holding `tensors` (name -> (type, (rows, width))) quantized by gguf's own quantizer."""
    writer = gguf.GGUFWriter(str(path), "llama")
    writer.add_file_type(file_type)
    rng = np.random.default_rng(0)
    for name, (kind, shape) in tensors.items():
        qtype = gguf.GGMLQuantizationType[kind]
        data = rng.standard_normal(shape).astype(np.float32)
        if qtype == gguf.GGMLQuantizationType.F32:
            writer.add_tensor(name, data)
        else:
            writer.add_tensor(name, gguf.quants.quantize(data, qtype), raw_dtype=qtype)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


def test_a_gguf_named_q4_k_m_that_is_mostly_q5_0_is_called_out(tmp_path):
    # What llama.cpp writes for 576-wide rows asked to be Q4_K: Q5_0 (and Q8_0 where it wanted Q6_K).
    from benchharness.formats.gguf import weight_composition

    path = tmp_path / "smol.gguf"
    write_gguf(
        path,
        gguf.LlamaFileType.MOSTLY_Q4_K_M,
        {
            "blk.0.ffn_up.weight": ("Q5_0", (64, 576)),
            "blk.0.attn_v.weight": ("Q8_0", (32, 576)),
            "output_norm.weight": ("F32", (1, 576)),
        },
    )
    weights = weight_composition(path)
    assert weights.requested == "Q4_K_M" and weights.requested_types == ("Q4_K",)
    assert weights.parameters == (("Q5_0", 64 * 576), ("Q8_0", 32 * 576), ("F32", 576))
    # bytes per block from GGML_QUANT_SIZES: Q5_0 22 per 32, Q8_0 34 per 32, F32 4 per 1
    expected_bytes = 64 * 576 // 32 * 22 + 32 * 576 // 32 * 34 + 576 * 4
    assert weights.weight_bytes == expected_bytes
    assert weights.bits_per_weight == pytest.approx(8 * expected_bytes / (97 * 576))
    assert weights.requested_share == 0.0
    warning = weights.warning()
    assert warning is not None and warning.startswith("weights: requested Q4_K_M covers only 0% of the parameters")
    assert "Q5_0 66%, Q8_0 33%" in warning


def test_a_gguf_whose_type_covers_most_weights_has_no_warning(tmp_path):
    from benchharness.formats.gguf import weight_composition

    path = tmp_path / "q8.gguf"
    write_gguf(
        path,
        gguf.LlamaFileType.MOSTLY_Q8_0,
        {"token_embd.weight": ("Q8_0", (128, 256)), "blk.0.attn_v.weight": ("Q5_0", (16, 256))},
    )
    weights = weight_composition(path)
    assert weights.requested == "Q8_0"
    assert weights.requested_share == pytest.approx(128 / 144)
    assert weights.warning() is None
    assert weights.to_json()["types"] == {"Q8_0": 0.8889, "Q5_0": 0.1111}


@pytest.mark.parametrize(
    ("ftype", "types"), [("Q4_K_M", ("Q4_K",)), ("Q3_K_L", ("Q3_K",)), ("F32", ("F32",)), ("IQ2_M", ())]
)
def test_a_file_type_counts_as_the_tensor_type_it_is_named_for(ftype, types):
    from benchharness.formats.gguf import requested_types

    assert requested_types(ftype) == types


def test_the_warning_line_is_at_half_and_round_trips():
    half = composition({"INT4": 50, "FP32": 50}, 400, "INT4", ("INT4",))
    under = composition({"INT4": 49, "FP32": 51}, 400, "INT4", ("INT4",))
    unknown = composition({"INT4": 1, "FP32": 99}, 400, None, ())
    assert half.warning() is None and unknown.warning() is None and unknown.requested_share is None
    assert under.warning() is not None and "FP32 51%" in str(under.warning())
    assert WeightComposition.from_json(json.loads(json.dumps(under.to_json())), "weights") == under
    assert under.to_json()["bits_per_weight"] == 32.0


@pytest.fixture(scope="module")
def digits(tmp_path_factory):
    """The digits MLP's fp32 and int8 ONNX variants, prepared through the shared cache."""
    pytest.importorskip("onnxruntime")
    pytest.importorskip("sklearn")
    from benchharness.models.prepare import Preparer
    from benchharness.models.registry import builtin_models
    from benchharness.settings import default_cache_dir

    model = builtin_models()["digits-mlp"]
    preparer = Preparer(default_cache_dir(), 1, 600, lambda _: None)
    return model, {label: preparer.prepare(model, "onnx", label) for label in ("fp32", "int8")}


def test_onnx_composition_of_the_digits_variants_is_kept_in_the_manifest(digits, monkeypatch):
    from benchharness.models.prepare import Preparer
    from benchharness.settings import default_cache_dir

    model, variants = digits
    fp32, int8 = variants["fp32"].weights, variants["int8"].weights
    assert fp32 is not None and int8 is not None
    # 64x256 + 256x128 + 128x10 weights and 256 + 128 + 10 biases: all FP32, then all INT8 (static QDQ)
    assert fp32.parameters == (("FP32", 50826),) and fp32.bits_per_weight == 32.0 and fp32.requested == "FP32"
    assert int8.parameters == (("INT8", 50826),) and int8.requested_share == 1.0
    assert 8.0 < (int8.bits_per_weight or 0) < 8.5  # the per-channel scales and zero points cost a little
    manifest = json.loads(Path(str(variants["int8"].path) + ".json").read_text())
    assert WeightComposition.from_json(manifest["weights"], "weights") == int8

    def no_reading(*args: object) -> None:
        raise AssertionError("a prepared variant's files were read again")

    monkeypatch.setattr(comp, "read_composition", no_reading)
    monkeypatch.setattr("benchharness.models.prepare.read_composition", no_reading)
    again = Preparer(default_cache_dir(), 1, 600, lambda _: None).prepare(model, "onnx", "int8")
    assert again.weights == int8


def test_onnx_weights_left_in_fp32_are_counted_apart(digits, tmp_path):
    # onnxruntime's dynamic int8 quantizes MatMul weights and leaves the biases (394 parameters) FP32.
    from onnxruntime.quantization import QuantType, quantize_dynamic

    from benchharness.formats.onnx import model_file, weight_composition

    _, variants = digits
    quantize_dynamic(model_file(variants["fp32"].path), tmp_path / "dynamic.onnx", weight_type=QuantType.QInt8)
    weights = weight_composition(tmp_path / "dynamic.onnx", "INT8")
    assert weights.parameters == (("INT8", 50432), ("FP32", 394))
    # int8 weights + fp32 biases + a float scale and an int8 zero point per tensor (3 MatMuls)
    assert weights.weight_bytes == 50432 + 394 * 4 + 3 * (4 + 1)


def test_openvino_composition_reads_compressed_constants(digits, tmp_path):
    ov = pytest.importorskip("openvino")
    nncf = pytest.importorskip("nncf")
    from benchharness.formats.onnx import model_file
    from benchharness.formats.openvino import weight_composition

    _, variants = digits
    model = ov.convert_model(model_file(variants["fp32"].path))
    ov.save_model(model, tmp_path / "fp16.xml", compress_to_fp16=True)
    fp16 = weight_composition(tmp_path / "fp16.xml", "FP16")
    assert fp16.parameters == (("FP16", 50826),) and fp16.bits_per_weight == 16.0
    compressed = nncf.compress_weights(
        model, mode=nncf.CompressWeightsMode.INT4_ASYM, group_size=64, ratio=1.0
    )  # NNCF keeps the last layer (1280 weights) at int8 and the biases in fp32
    ov.save_model(compressed, tmp_path / "int4.xml", compress_to_fp16=False)
    int4 = weight_composition(tmp_path / "int4.xml", "INT4")
    assert int4.parameters == (("INT4", 49152), ("INT8", 1280), ("FP32", 394))
    assert int4.warning() is None and 4.5 < (int4.bits_per_weight or 0) < 4.8


@pytest.mark.e2e
def test_results_report_and_terminal_carry_each_variants_composition(tmp_path):
    # From outside: the digits suite on ONNX Runtime, as a user runs it.
    pytest.importorskip("onnxruntime", reason="pip install 'benchharness[onnx]'")
    pytest.importorskip("sklearn", reason="pip install 'benchharness[exporters]'")
    root = digits_project(tmp_path)
    code, output = run_digits(root, "--no-baseline", "--report=reports/report.html")
    assert code == 0, output[-3000:]
    cases = cases_by(root, "variant")
    assert cases["fp32"]["info"]["weights"]["types"] == {"FP32": 1.0}
    int8 = cases["int8"]["info"]["weights"]
    assert (int8["types"], int8["requested"], int8["requested_share"]) == ({"INT8": 1.0}, "INT8", 1.0)
    assert 8.0 < int8["bits_per_weight"] < 8.5
    assert not any(w.startswith("weights: ") for c in cases.values() for w in c["warnings"])
    html = (root / "reports" / "report.html").read_text()
    assert "weights (types by parameters)" in html and "bits per weight" in html
    header = next(line for line in output.splitlines() if line.startswith("variant ") and "bits/w" in line)
    assert header
    assert any(line.startswith("int8 onnxruntime") and " 8.3" in line for line in output.splitlines())
