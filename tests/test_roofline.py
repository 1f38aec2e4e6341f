"""Each decode row against the physical limit: bytes per token from the files, MBU, and a speedup's ceiling.

GGUF files are written with gguf's own writer (real block sizes, real metadata keys); an ONNX
graph with a tied-free embedding is built with onnx's helpers; the bandwidth pass runs torch for
real on a small thread count.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path

import numpy as np
import pytest
from child_facts import child_info

from benchharness import roofline
from benchharness.meters import bandwidth as bw
from benchharness.models.traffic import TokenTraffic, bytes_per_token, read_traffic
from benchharness.readings import Measurement, Reading
from conftest import latest, suite_file

gguf = pytest.importorskip("gguf")


def write_llama_gguf(path: Path, tensors: dict[str, tuple[int, int]], *, layers: int = 2, kv_heads: int = 2) -> None:
    writer = gguf.GGUFWriter(str(path), "llama")
    writer.add_block_count(layers)
    writer.add_head_count(4)
    writer.add_head_count_kv(kv_heads)
    writer.add_embedding_length(64)
    rng = np.random.default_rng(0)
    for name, shape in tensors.items():
        data = rng.standard_normal(shape).astype(np.float32)
        writer.add_tensor(name, gguf.quants.quantize(data, gguf.GGMLQuantizationType.Q8_0), raw_dtype=8)
    writer.write_header_to_file()
    writer.write_kv_data_to_file()
    writer.write_tensors_to_file()
    writer.close()


def test_a_gguf_with_its_own_output_matrix_reads_the_embedding_by_lookup_only(tmp_path):
    path = tmp_path / "m.gguf"
    write_llama_gguf(
        path, {"token_embd.weight": (100, 64), "output.weight": (100, 64), "blk.0.ffn_up.weight": (32, 64)}
    )
    traffic = read_traffic("gguf", path)
    assert traffic is not None
    q8 = 34 / 32  # Q8_0: 34 bytes per 32 weights
    assert traffic.lookup_bytes == 100 * 64 * q8
    assert traffic.weight_bytes == (100 * 64 + 32 * 64) * q8
    assert (traffic.layers, traffic.kv_heads, traffic.head_dim, traffic.kv_element_bytes) == (2, 2, 16, 2.0)


def test_a_tied_gguf_embedding_is_the_output_projection_and_counts_whole(tmp_path):
    path = tmp_path / "tied.gguf"
    write_llama_gguf(path, {"token_embd.weight": (100, 64), "blk.0.ffn_up.weight": (32, 64)})
    traffic = read_traffic("gguf", path)
    assert traffic is not None and traffic.lookup_bytes == 0
    assert traffic.weight_bytes == (100 * 64 + 32 * 64) * 34 / 32


def test_onnx_traffic_leaves_out_a_gathered_table_and_reads_the_kv_type_from_the_graph(tmp_path):
    onnx = pytest.importorskip("onnx")
    from onnx import TensorProto, helper, numpy_helper

    embed = numpy_helper.from_array(np.zeros((100, 8), np.float32), "embed")
    head = numpy_helper.from_array(np.zeros((8, 100), np.float32), "head")
    nodes = [
        helper.make_node("Gather", ["embed", "input_ids"], ["h"]),
        helper.make_node("MatMul", ["h", "head"], ["logits"]),
        helper.make_node("Identity", ["past_key_values.0.key"], ["present.0.key"]),
    ]
    inputs = [
        helper.make_tensor_value_info("input_ids", TensorProto.INT64, [1, 1]),
        helper.make_tensor_value_info("past_key_values.0.key", TensorProto.FLOAT16, [1, 3, "past", 16]),
    ]
    outputs = [
        helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, 1, 100]),
        helper.make_tensor_value_info("present.0.key", TensorProto.FLOAT16, [1, 3, "total", 16]),
    ]
    graph = helper.make_graph(nodes, "g", inputs, outputs, initializer=[embed, head])
    folder = tmp_path / "variant"
    folder.mkdir()
    onnx.save(helper.make_model(graph), str(folder / "model.onnx"))
    traffic = read_traffic("onnx", folder)
    assert traffic is not None
    assert (traffic.weight_bytes, traffic.lookup_bytes) == (8 * 100 * 4, 100 * 8 * 4)
    assert (traffic.layers, traffic.kv_heads, traffic.head_dim, traffic.kv_element_bytes) == (1, 3, 16, 2.0)


def traffic(element: float | None = 2.0) -> TokenTraffic:
    return TokenTraffic(1_000_000, 0, 30, 3, 64, element, "f16 test", None)


def test_bytes_per_token_add_the_kv_cache_at_the_mean_context():
    counted = bytes_per_token(traffic(), {}, mean_context=100.0)
    assert counted.value == 1_000_000 + 30 * 3 * 64 * 2 * 2.0 * 100


def test_openvino_kv_element_comes_from_the_compiled_precision_and_is_unavailable_without_it():
    assert bytes_per_token(traffic(None), {"kv_cache_precision": "u8"}, 10.0).value == 1_000_000 + 30 * 3 * 64 * 2 * 10
    missing = bytes_per_token(traffic(None), {}, 10.0)
    assert missing.value is None and "not recorded" in missing.source


def test_f32_weights_an_openvino_row_computed_in_bf16_are_read_at_two_bytes():
    # SmolLM2's FP32 IR through OpenVINO GenAI (bf16 by default on AVX-512 BF16): counted at 4 bytes it read
    # 53.6 GB/s on a 45 GB/s VM; the plugin stores those constants in bf16 when it compiles.
    from dataclasses import replace

    converted = replace(traffic(None), f32_weight_bytes=800_000)
    kv = 30 * 3 * 64 * 2 * 1 * 10
    bf16 = bytes_per_token(converted, {"kv_cache_precision": "u8", "inference_precision_hint": "bf16"}, 10.0)
    assert bf16.value == 1_000_000 - 400_000 + kv
    assert "800000 B of f32 tensors read as bf16 (inference_precision_hint)" in bf16.source
    f32 = bytes_per_token(converted, {"kv_cache_precision": "u8", "inference_precision_hint": "f32"}, 10.0)
    assert f32.value == 1_000_000 + kv


def measurement(tok_per_s: float) -> Measurement:
    reading = Reading("decode_tok_per_s", "tok/s", tok_per_s)
    return Measurement("case", {"decode_tok_per_s": reading}, child_info(), (), {})


def test_mbu_is_read_rate_over_bandwidth_and_unavailable_with_the_reason():
    line = bw.Bandwidth(10e9, 2, "test line")
    readings = {r.name: r for r in roofline.decode_readings(measurement(50.0), traffic(), "", line, [("", 0)], 16, 16)}
    per_token = 1_000_000 + 30 * 3 * 64 * 2 * 2.0 * roofline.mean_context(0, 16, 16)
    assert readings["bytes_per_token"].value == per_token
    assert readings["mbu"].value == pytest.approx(50.0 * per_token / 10e9)
    missing = roofline.decode_readings(measurement(50.0), None, "hf is not read", line, [("", 0)], 16, 16)
    assert all(r.value is None and r.unavailable_reason == "hf is not read" for r in missing)
    no_line = bw.Bandwidth(None, 2, "", unavailable_reason="torch is not installed")
    mbu = roofline.decode_readings(measurement(50.0), traffic(), "", no_line, [("", 0)], 16, 16)[-1]
    assert mbu.name == "mbu" and mbu.value is None and "torch is not installed" in str(mbu.unavailable_reason)


def test_a_speedup_gate_says_its_ceiling_and_the_share_reached():
    def with_bytes(value: float) -> Measurement:
        m = measurement(1.0)
        return Measurement("c", {"bytes_per_token": Reading("bytes_per_token", "B", value)}, m.info, (), {})

    note = roofline.ceiling_note(3.24, with_bytes(100.0), with_bytes(580.0))
    assert note == "ceiling 5.80x from bytes/token; 56% of it"
    message = roofline.with_ceiling("speedup 3.24x [3.20, 3.27] (min 2.00x, 12 pairs): pass", note)
    assert (
        message == "speedup 3.24x [3.20, 3.27] (min 2.00x, 12 pairs; ceiling 5.80x from bytes/token; 56% of it): pass"
    )
    assert roofline.ceiling_note(3.24, measurement(1.0), with_bytes(580.0)).startswith("ceiling unavailable")
    # A newcomer's finding: a speedup past what the bytes allow was printed as "130% of it" and nothing more.
    above = roofline.ceiling_note(7.5, with_bytes(100.0), with_bytes(580.0))
    assert above.startswith("ceiling 5.80x from bytes/token; 129% of it: ABOVE the ceiling, implausible")
    assert "ABOVE" not in roofline.ceiling_note(6.2, with_bytes(100.0), with_bytes(580.0))  # within 10%: the slack


def test_the_bandwidth_is_kept_per_fingerprint_and_threads_and_measured_again_when_either_changes(tmp_path):
    pytest.importorskip("torch")
    machine = {"id": "test-machine", "cpu": "x"}
    kept = tmp_path / "bandwidth" / "test-machine-1t.json"
    kept.parent.mkdir()
    sentinel = bw.Bandwidth(123e9, 1, "kept from an earlier session", (123.0,), outside_load=0.0)
    kept.write_text(json.dumps({"fingerprint": machine, "bandwidth": sentinel.to_dict()}))
    assert bw.machine_bandwidth(tmp_path, machine, 1) == sentinel  # read back, not measured again
    other = {"id": "test-machine", "cpu": "another"}
    measured = bw.machine_bandwidth(tmp_path, other, 1)  # another fingerprint: a real torch pass
    assert measured.bytes_per_s is not None and measured.bytes_per_s > 1e8 and "read-only" in measured.source
    assert measured.bytes_per_s != sentinel.bytes_per_s and len(measured.passes_gb_per_s) == bw.PASSES
    if measured.keepable:
        assert json.loads(kept.read_text())["fingerprint"] == other
    else:  # beside other work: used once, said in its source, and not kept for the next session
        assert "may read low" in measured.source
        assert json.loads(kept.read_text())["fingerprint"] == machine


def test_a_pass_beside_heavy_outside_load_is_not_kept():
    assert not bw.Bandwidth(9e9, 2, "", outside_load=0.9).keepable
    assert bw.Bandwidth(9e9, 2, "", outside_load=0.05).keepable
    assert not bw.Bandwidth(None, 2, "", unavailable_reason="no torch").keepable


ROOFLINE_SUITE = suite_file("roof", "test_generation")

ROOFLINE_PYPROJECT = """
[tool.benchharness]
threads = 2
[tool.benchharness.workload]
prompt_tokens = 16
gen_tokens = 16
warmup_rounds = 1
min_rounds = 2
min_time_s = 0.2
[tool.benchharness.accuracy]
n_ctx = 128
windows = 1
[tool.benchharness.trials]
pairs = 2
max_pairs = 2
confirm = 0
[tool.benchharness.suites.roof]
models = ["smollm2-135m"]
backends = ["llamacpp"]
variants = ["f32", "q8_0"]
[tool.benchharness.suites.roof.gates]
memory_reduction = false
accuracy_retained = false
[tool.benchharness.suites.roof.gates.speedup]
min = 1.0
variants = ["q8_0"]
"""


@pytest.mark.e2e
def test_decode_rows_carry_mbu_and_the_speedup_gate_its_ceiling(pytester, tmp_path):
    """From outside, on SmolLM2 through llama.cpp: results, terminal and report against the physical limit."""
    if importlib.util.find_spec("llama_cpp") is None:  # by name: importing it here leaves /dev/null open
        pytest.skip("pip install 'benchharness[llamacpp]'")
    pytester.makepyfile(test_roof=ROOFLINE_SUITE)
    pytester.path.joinpath("pyproject.toml").write_text(ROOFLINE_PYPROJECT)
    result = pytester.runpytest_subprocess("--device=cpu", "-p", "no:cacheprovider", "-rA", timeout=900)
    data = latest(pytester.path)
    line = data["run"]["bandwidth"]
    assert line["bytes_per_s"] > 1e8 and "read-only" in line["source"], line
    for case in data["cases"]:
        readings = case["readings"]
        assert readings["mbu"]["value"] > 0 and readings["bytes_per_token"]["value"] > 0, case["id"]
    q8 = next(c for c in data["cases"] if "-q8_0-" in c["id"])
    gate = next(v for v in q8["verdicts"] if v["name"] == "speedup")
    # F32 reads 538 MB a token and Q8_0 143 MB (their GGUF tensor tables): a ceiling near 3.8x.
    assert "from bytes/token;" in gate["message"] and "% of it" in gate["message"], gate["message"]
    ceiling = float(gate["message"].split("ceiling ")[1].split("x")[0])
    assert 3.5 < ceiling < 4.0
    assert "MBU" in result.stdout.str()
    assert "measured read bandwidth" in (pytester.path / "reports" / "latest.html").read_text()
