import pytest

from benchharness.backends import registry
from benchharness.backends.base import Backend
from benchharness.cli_options import Filters, parse_list
from benchharness.devices import resolve_devices
from benchharness.errors import ConfigError
from benchharness.matrix import check_known, expand, nothing_selected, suite_names
from benchharness.models.registry import build_registry
from benchharness.settings import ModelConfig, SuiteConfig, VariantSource


class MissingRuntime(Backend):
    name = "missing"
    runtime_module = "no_such_runtime_module_xyz"
    extra = "missing"
    formats = ("gguf",)
    devices = ("cpu",)


def backends():
    return {"llamacpp": registry()["llamacpp"](), "missing": MissingRuntime()}


def test_ids_reference_first_and_absent_devices_skipped():
    models = build_registry([])
    suite = SuiteConfig("s", variants=("q4_0", "f32"), backends=("llamacpp",))
    cases = expand(suite, models, backends(), ("cpu", "metal"), Filters())
    assert [c.id for c in cases] == [
        "smollm2-135m-f32-llamacpp-cpu",
        "smollm2-135m-f32-llamacpp-metal",
        "smollm2-135m-q4_0-llamacpp-cpu",
        "smollm2-135m-q4_0-llamacpp-metal",
    ]
    metal = cases[1]
    assert metal.skip_reason and "metal" in metal.skip_reason.lower()
    assert cases[2].reference_id == "smollm2-135m-f32-llamacpp-cpu"


def test_missing_runtime_is_a_skip_reason_with_the_install_hint():
    cases = expand(
        SuiteConfig("s", backends=("missing",), variants=("f32",)), build_registry([]), backends(), ("cpu",), Filters()
    )
    (case,) = cases
    assert "no_such_runtime_module_xyz" in case.skip_reason and "benchharness[missing]" in case.skip_reason


def test_filters_select():
    cases = expand(
        SuiteConfig("s", backends=("llamacpp",)), build_registry([]), backends(), ("cpu",), Filters(variants=("q8_0",))
    )
    assert [c.variant for c in cases] == ["q8_0"]


def test_unknown_filter_value_lists_valid_ones():
    with pytest.raises(ConfigError, match="unknown value 'q9'; valid: a, b"):
        check_known("--variant", ("q9",), ["b", "a"])
    with pytest.raises(ConfigError, match="names nothing"):
        parse_list("--model", " , ")


def test_user_variant_declared_in_config():
    models = build_registry([ModelConfig("smollm2-135m", None, {"q2_k": VariantSource(quantize="Q2_K")})])
    chain = models["smollm2-135m"].recipe_chain("gguf", "q2_k")
    assert chain == [("gguf", "q4_1"), ("gguf", "f32"), ("gguf", "q2_k")]


def test_user_model_needs_a_valid_reference(tmp_path):
    with pytest.raises(ConfigError, match="set reference"):
        build_registry([ModelConfig("mine", None, {"a": VariantSource(path=tmp_path / "a.gguf")})])
    with pytest.raises(ConfigError, match="from = 'nope' is not a gguf variant"):
        build_registry(
            [
                ModelConfig(
                    "mine",
                    "a",
                    {"a": VariantSource(path=tmp_path / "a.gguf"), "b": VariantSource(quantize="Q4_0", base="nope")},
                )
            ]
        )


def test_devices_auto_and_unknown():
    assert resolve_devices("auto") == ("cpu", "cuda", "metal", "gpu", "npu")
    assert resolve_devices("cpu,cpu") == ("cpu",)
    with pytest.raises(ValueError, match="unknown device 'tpu'; valid: auto, cpu"):
        resolve_devices("tpu")


def test_llamacpp_presence_is_checked_by_module_name():
    backend = registry()["llamacpp"]()
    assert backend.runtime_module == "llama_cpp"  # the import name, not the distribution name
    pytest.importorskip("llama_cpp")
    assert backend.unavailable_reason("cpu") is None
    assert "does not target device 'npu'" in backend.unavailable_reason("npu")


def test_missing_converter_is_a_skip_reason(monkeypatch):
    from benchharness.models import recipes

    real = recipes._absent
    monkeypatch.setattr(recipes, "_absent", lambda package: package == "optimum-onnx" or real(package))
    cases = expand(
        SuiteConfig("s", models=("smollm2-135m",), backends=("onnxruntime",), variants=("fp32",)),
        build_registry([]),
        {"onnxruntime": registry()["onnxruntime"]()},
        ("cpu",),
        Filters(),
    )
    (case,) = cases
    if "not installed" in (case.skip_reason or ""):
        pytest.skip(case.skip_reason)
    assert case.skip_reason == (
        "smollm2-135m onnx fp32: recipe optimum-onnx-export needs optimum-onnx (pip install 'benchharness[onnx]')"
    )


def test_unknown_quantization_type_fails_before_any_work(tmp_path):
    from dataclasses import replace

    from benchharness.errors import PrepareError
    from benchharness.models.prepare import Preparer
    from benchharness.models.registry import builtin_models

    # Declared in config, the type is refused at start-up; the recipe's declaration still guards preparing.
    with pytest.raises(ConfigError, match=r"quantize = 'Q9' is not a llama.cpp quantization type; valid: F32"):
        build_registry([ModelConfig("smollm2-135m", None, {"bad": VariantSource(quantize="Q9")})])
    smollm2 = builtin_models()["smollm2-135m"]
    bad = replace(smollm2.variants[("gguf", "q4_0")], params=(("ftype", "Q9"),))
    model = replace(smollm2, variants={**smollm2.variants, bad.key: bad})
    with pytest.raises(
        PrepareError, match=r"recipe llama-quantize: ftype = 'Q9' is not a llama.cpp quantization type; valid: F32"
    ):
        Preparer(tmp_path, threads=1, timeout_s=60, progress=print).prepare(model, "gguf", "q4_0")
    assert not any(tmp_path.iterdir())  # not even the F32 base was made


def test_a_filter_that_empties_a_suite_is_answered_with_the_suites_own_names():
    """`--variant=q4_0` (another model's) on a digits suite lists digits' variants, not every built-in one."""
    models, runtimes = build_registry([]), {name: cls() for name, cls in registry().items()}
    suite = SuiteConfig("digits", models=("digits-mlp",))
    names = suite_names(suite, models, runtimes)
    assert names.models == ("digits-mlp",) and names.variants == ("fp32", "int8")
    assert "llamacpp" not in names.backends and "onnxruntime" in names.backends
    only_q4 = Filters(variants=("q4_0",))
    assert expand(suite, models, runtimes, ("cpu",), only_q4) == []
    assert nothing_selected(suite, names, ("cpu",), only_q4) == (
        "--variant=q4_0 selects none of suite digits's cases; it runs variants fp32, int8: name those to run them"
    )
    both = nothing_selected(suite, names, ("cpu",), Filters(backends=("llamacpp",), variants=("q4_0",)))
    assert f"it runs backends {', '.join(names.backends)}; variants fp32, int8:" in both
    declared = suite_names(SuiteConfig("d", models=("digits-mlp",), variants=("int8",)), models, runtimes)
    assert declared.variants == ("int8",)  # what a --variant can select: the suite's own list, not its model's
