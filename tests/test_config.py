from pathlib import Path

import pytest

from benchharness.config import load_settings, parse_settings
from benchharness.errors import ConfigError, RenamedSetting
from benchharness.toml_table import parse_assignment


def test_defaults_without_any_config(tmp_path):
    settings = load_settings(tmp_path)
    assert settings.workload.gen_tokens == 64
    assert settings.workload.depths == (0,)
    assert parse_settings({"workload": {"depths": [0, 512, 2048]}}, tmp_path).workload.depths == (0, 512, 2048)
    assert settings.results_dir == tmp_path / "reports"
    assert settings.suites == {}
    suite = parse_settings({"suites": {"s": {}}}, tmp_path).suites["s"]
    assert [(g.name, g.minimum) for g in suite.gates] == [
        ("accuracy_retained", 0.95),
        ("speedup", 2.0),
        ("memory_reduction", 0.5),
    ]


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (
            {"workload": {"gen_token": 3}},
            "unknown key 'gen_token'; valid keys: chat_turn_tokens, chat_turns, depths, gen_tokens",
        ),
        ({"workload": {"gen_tokens": 0}}, "gen_tokens = 0 is out of range"),
        ({"workload": {"gen_tokens": "many"}}, "must be int"),
        ({"workload": {"depths": []}}, "must be a non-empty list of token counts"),
        ({"workload": {"depths": [0, "512"]}}, "must be a non-empty list of token counts"),
        ({"workload": {"depths": [0, 512, 0]}}, "lists a depth twice"),
        ({"workload": {"depths": [-1]}}, "depths = -1 is out of range"),
        ({"threads": True}, "must be int"),
        ({"suites": {"s": {"gates": {"speedp": {"min": 2}}}}}, "unknown gate 'speedp'; valid gates"),
        ({"suites": {"s": {"gates": {"accuracy_retained": {"min": 1.5}}}}}, "out of range"),
        ({"models": {"m": {"variants": {"a": {"path": "x", "quantize": "Q4_0"}}}}}, "exactly one of"),
        ({"baseline": {"noise_k": 3.0}}, "noise_k is no longer a setting"),
        ({"baseline": {"min_effect": float("nan")}}, "min_effect = nan is out of range"),
        ({"baseline": {"run_factor": 0.5}}, "run_factor = 0.5 is out of range; it must be in 1.0..100.0"),
        ({"baseline": {"alpha": 0.0}}, "alpha = 0.0 is out of range"),
        ({"workload": {"min_time_s": float("nan")}}, "min_time_s = nan is out of range"),
        ({"suites": {"s": {"gates": {"speedup": {"min": float("nan")}}}}}, "min = nan is out of range"),
        ({"suites": {"s": {"gates": {"speedup": {"borderline": ["a"]}}}}}, "borderline is no longer a setting"),
        ({"suites": {"s": {"inconclusive": "ignore"}}}, "inconclusive = 'ignore' is unknown; valid: warn, fail"),
        ({"suites": {"s": {"limits": {"load_s": 1.0}}}}, "unknown limit 'load_s'; valid: load_ms"),
        ({"trials": {"pairs": 1}}, "trials.pairs = 1 is out of range"),
        ({"trials": {"max_pairs": 2}}, "trials.max_pairs = 2 is out of range"),
        ({"trials": {"confidence": 1.0}}, "confidence = 1.0 is out of range"),
        ({"suites": {"s": {"workload": {"prompt_token": 8}}}}, "suites.s.workload: unknown key 'prompt_token'"),
        ({"models": {"m": {"variants": {"a": {"path": "x", "format": "tflite"}}}}}, "format = 'tflite' is unknown"),
    ],
)
def test_bad_settings_name_key_value_and_fix(data, message):
    with pytest.raises(ConfigError, match=message.replace("(", r"\(")):
        parse_settings(data, Path("/tmp"))


def test_gate_can_be_switched_off_and_scoped():
    settings = parse_settings(
        {"suites": {"s": {"gates": {"speedup": False, "memory_reduction": {"min": 0.4, "variants": ["q4_0"]}}}}},
        Path("/tmp"),
    )
    gates = {g.name: g for g in settings.suites["s"].gates}
    assert "speedup" not in gates
    assert gates["memory_reduction"].minimum == 0.4 and gates["memory_reduction"].variants == ("q4_0",)


def test_assignments_parse_as_toml_values():
    assert parse_assignment("workload.gen_tokens=16") == {"workload": {"gen_tokens": 16}}
    assert parse_assignment("results_dir=/tmp/r") == {"results_dir": "/tmp/r"}
    with pytest.raises(ConfigError, match=r"section.key=value"):
        parse_assignment("nonsense")


def test_pyproject_then_extra_file_then_assignments(tmp_path):
    (tmp_path / "pyproject.toml").write_text("[tool.benchharness.workload]\ngen_tokens = 10\nprompt_tokens = 20\n")
    extra = tmp_path / "extra.toml"
    extra.write_text("[workload]\ngen_tokens = 11\n")
    settings = load_settings(tmp_path, extra, ("workload.prompt_tokens=30",))
    assert (settings.workload.gen_tokens, settings.workload.prompt_tokens) == (11, 30)


def test_malformed_toml_is_one_line_error(tmp_path):
    (tmp_path / "pyproject.toml").write_text("[tool.benchharness\n")
    with pytest.raises(ConfigError, match="not valid TOML"):
        load_settings(tmp_path)


def test_suite_workload_overrides_only_that_suite():
    settings = parse_settings(
        {"workload": {"gen_tokens": 32}, "suites": {"slow": {"workload": {"prompt_tokens": 16}}, "other": {}}},
        Path("/tmp"),
    )
    slow = settings.suites["slow"]
    assert slow.workload is not None
    assert (slow.workload.prompt_tokens, slow.workload.gen_tokens) == (16, 32)  # the rest from the global table
    assert settings.suites["other"].workload is None and settings.suites["other"].accuracy is None
    assert settings.workload.prompt_tokens == 128


def test_declared_variant_formats(tmp_path):
    from benchharness.models.registry import build_registry
    from benchharness.settings import ModelConfig, VariantSource

    models = build_registry(
        [ModelConfig("mine", "fp32", {"fp32": VariantSource(path=tmp_path / "m.onnx")}, kind="encoder")]
    )
    assert models["mine"].references == {"onnx": "fp32"} and models["mine"].kind == "encoder"
    with pytest.raises(ConfigError, match="cannot tell the format of mine-dir; add format ="):
        build_registry([ModelConfig("mine", "a", {"a": VariantSource(path=tmp_path / "mine-dir")})])
    folder = build_registry(
        [ModelConfig("mine", "a", {"a": VariantSource(path=tmp_path / "mine-dir", format="openvino")})]
    )
    assert folder["mine"].variant("openvino", "a").format == "openvino"


def test_a_setting_given_twice_on_the_command_line_is_refused(tmp_path):
    with pytest.raises(ConfigError, match=r"--bench-set threads is given twice \('threads=1' and 'threads=2'\)"):
        load_settings(tmp_path, None, ("threads=1", "threads=2"))
    assert load_settings(tmp_path, None, ("threads=1", "workload.gen_tokens=8")).threads == 1


def test_paths_in_a_bench_config_file_are_read_from_its_own_folder(tmp_path):
    from benchharness.config import rebase_paths

    (tmp_path / "configs").mkdir()
    extra = tmp_path / "configs" / "mine.toml"
    extra.write_text(
        'results_dir = "out"\n[models.m]\nreference = "a"\n'
        '[models.m.variants]\na = "a.gguf"\nb = { path = "/abs/b.gguf" }\nc = { quantize = "Q4_0" }\n'
    )
    (tmp_path / "pyproject.toml").write_text('[tool.benchharness]\nbaselines_dir = "base"\n')
    settings = load_settings(tmp_path, extra)
    variants = settings.models[0].variants
    assert variants["a"].path == tmp_path / "configs" / "a.gguf"
    assert variants["b"].path == Path("/abs/b.gguf") and variants["c"].path is None
    assert settings.results_dir == tmp_path / "configs" / "out"
    assert settings.baselines_dir == tmp_path / "base"  # pyproject's paths stay relative to the project root
    assert rebase_paths({"results_dir": 3}, tmp_path) == {"results_dir": 3}  # left for parse_settings to refuse


def test_unknown_model_kind_is_refused_by_the_registry():
    from benchharness.models.registry import build_registry

    settings = parse_settings(
        {"models": {"m": {"kind": "vision", "reference": "a", "variants": {"a": "a.gguf"}}}}, Path(".")
    )
    with pytest.raises(ConfigError, match="kind = 'vision' is unknown; valid: causal-lm"):
        build_registry(settings.models)


def test_a_suite_states_its_own_baseline_sensitivity():
    settings = parse_settings({"suites": {"s": {"baseline": {"min_effect": 0.25}}, "t": {}}}, Path("."))
    assert settings.suites["s"].baseline.min_effect == 0.25 and settings.suites["s"].baseline.alpha == 0.002
    assert settings.suites["t"].baseline is None
    with pytest.raises(ConfigError, match=r"suites.s.baseline.min_effect = nan is out of range"):
        parse_settings({"suites": {"s": {"baseline": {"min_effect": float("nan")}}}}, Path("."))
    decode = parse_settings({"baseline": {"metrics": ["decode_tok_per_s"]}, "suites": {"s": {}}}, Path("."))
    assert decode.baseline.metrics == ("decode_tok_per_s",) and decode.baseline.compares("decode_tok_per_s@d512")
    assert not decode.baseline.compares("ttft_ms")
    with pytest.raises(ConfigError, match=r"baseline.metrics names 'decode_tok_s', not a tracked metric; valid: "):
        parse_settings({"baseline": {"metrics": ["decode_tok_s"]}}, Path("."))
    with pytest.raises(ConfigError, match=r"baseline.metrics = \[\] compares nothing"):
        parse_settings({"baseline": {"metrics": []}}, Path("."))


def test_relative_folders_resolve_from_the_project_root(tmp_path):
    settings = parse_settings({"cache_dir": "cache", "results_dir": "out"}, tmp_path)
    assert settings.cache_dir == tmp_path / "cache" and settings.results_dir == tmp_path / "out"


def test_an_energy_estimate_is_asked_for_with_a_tdp():
    assert parse_settings({}, Path(".")).estimate_cpu_tdp_w is None
    assert parse_settings({"energy": {"estimate_cpu_tdp_w": 65}}, Path(".")).estimate_cpu_tdp_w == 65.0
    with pytest.raises(ConfigError, match=r"energy.estimate_cpu_tdp_w = nan is out of range"):
        parse_settings({"energy": {"estimate_cpu_tdp_w": float("nan")}}, Path("."))


def test_the_energy_gate_is_off_until_a_suite_names_it():
    plain = parse_settings({"suites": {"s": {}}}, Path("."))
    assert "energy_reduction" not in {r.name for r in plain.suites["s"].gates}
    named = parse_settings({"suites": {"s": {"gates": {"energy_reduction": {"min": 0.3}}}}}, Path("."))
    (rule,) = [r for r in named.suites["s"].gates if r.name == "energy_reduction"]
    assert rule.minimum == 0.3
    with pytest.raises(ConfigError, match=r"gates.energy_reduction: unknown key 'figure'"):
        parse_settings({"suites": {"s": {"gates": {"energy_reduction": {"figure": "model"}}}}}, Path("."))


def test_a_quantize_variant_needs_a_gguf_base_and_a_known_type(tmp_path):
    from benchharness.models.registry import build_registry
    from benchharness.settings import ModelConfig, VariantSource

    onnx = VariantSource(path=tmp_path / "m.onnx")
    with pytest.raises(
        ConfigError,
        match=r"\(llama.cpp's quantizer\) reads gguf only, but reference 'fp32' is a onnx variant; model mine has no gguf",
    ):
        build_registry([ModelConfig("mine", "fp32", {"fp32": onnx, "q": VariantSource(quantize="Q4_0")})])
    with pytest.raises(ConfigError, match=r"reads gguf only, but from 'fp32' is a onnx variant"):
        build_registry([ModelConfig("m", None, {"fp32": onnx, "q": VariantSource(quantize="Q4_0", base="fp32")})])
    with pytest.raises(ConfigError, match=r"variants.q: from = 'f64' is not a gguf variant; variants: "):
        build_registry([ModelConfig("smollm2-135m", None, {"q": VariantSource(quantize="Q4_0", base="f64")})])
    with pytest.raises(ConfigError, match=r"quantize = 'Q4_7' is not a llama.cpp quantization type; valid: F32"):
        build_registry([ModelConfig("smollm2-135m", None, {"q": VariantSource(quantize="Q4_7")})])
    with pytest.raises(
        ConfigError, match=r"quantize = 'Q4_0' \(llama.cpp's quantizer\) writes gguf, not format = 'onnx'"
    ):
        build_registry([ModelConfig("smollm2-135m", None, {"q": VariantSource(quantize="Q4_0", format="onnx")})])
    extended = build_registry([ModelConfig("smollm2-135m", None, {"q": VariantSource(quantize="q2_k")})])
    assert extended["smollm2-135m"].variant("gguf", "q").base == ("gguf", "f32")


def test_the_readmes_configuration_section_states_the_real_defaults():
    """A newcomer reads the defaults off the README: each one stated there is the dataclass's own."""
    import dataclasses
    import re
    from pathlib import Path

    from benchharness.settings import AccuracySettings, TrialSettings, Workload

    text = Path(__file__).resolve().parents[1].joinpath("README.md").read_text()
    section = text[text.index("## Configuration") :]
    for table, settings in (("workload", Workload()), ("accuracy", AccuracySettings()), ("trials", TrialSettings())):
        block = section[section.index(f"[tool.benchharness.{table}]") :].split("\n[", 1)[0]
        for field in dataclasses.fields(settings):
            value = getattr(settings, field.name)
            shown = f"[{', '.join(map(str, value))}]" if isinstance(value, tuple) else str(value)
            assert re.search(rf"\b{field.name} \({re.escape(shown)}[),;]", block), (table, field.name, shown, block)


def test_quants_is_read_as_variants_with_a_warning_naming_the_new_key(tmp_path):
    old = {"suites": {"s": {"quants": ["q4_0"], "gates": {"speedup": {"quants": ["q4_0"]}}}}}
    with pytest.warns(RenamedSetting) as caught:
        suite = parse_settings(old, tmp_path).suites["s"]
    assert suite.variants == ("q4_0",)
    assert {r.name: r.variants for r in suite.gates}["speedup"] == ("q4_0",)
    assert sorted(str(w.message) for w in caught) == [
        "[tool.benchharness].suites.s.gates.speedup.quants is now called variants; rename the key",
        "[tool.benchharness].suites.s.quants is now called variants; rename the key",
    ]
    both = {"suites": {"s": {"quants": ["q4_0"], "variants": ["q8_0"]}}}
    with pytest.raises(ConfigError, match=r"sets both 'quants' and 'variants'; 'quants' is the old name of 'variants'"):
        parse_settings(both, tmp_path)
