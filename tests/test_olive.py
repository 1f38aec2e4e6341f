"""Microsoft Olive as a way to make variants (models/olive_format.py).

The check's one-line errors for each bad declaration (run against Olive's own schema, so they need
olive-ai installed), the cache key (a workflow by its content), and, end to end, the built-in Olive
INT4 of SmolLM2 measured and gated on ONNX Runtime GenAI next to the builder's INT4, through the
shared prepare cache.
"""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
from child_facts import child_info

from benchharness.errors import ConfigError
from conftest import cases_by

pytest.importorskip("olive", reason="pip install 'benchharness[olive]'")

from benchharness.models.olive_format import check_params, key_params, output_format
from benchharness.models.recipes import recipe
from benchharness.models.registry import OLIVE_WORKFLOWS, builtin_models

INT4 = OLIVE_WORKFLOWS / "int4.json"


def workflow(tmp_path: Path, change: dict[str, object] | None = None, name: str = "flow.json") -> Path:
    """The shipped INT4 workflow with `change` applied to its model_builder pass (None values delete)."""
    data = json.loads(INT4.read_text())
    for key, value in (change or {}).items():
        if value is None:
            data["passes"]["model_builder"].pop(key, None)
        else:
            data["passes"]["model_builder"][key] = value
    path = tmp_path / name
    path.write_text(json.dumps(data))
    return path


def test_the_shipped_workflow_and_the_ready_made_command_pass_the_check() -> None:
    check_params({"config": str(INT4)})
    check_params({"precision": "int4", "provider": "CPUExecutionProvider", "device": "cpu", "block_size": "32"})
    smollm2 = builtin_models()["smollm2-135m"]
    olive = smollm2.variant("ortgenai", "int4-olive")
    assert (olive.recipe, dict(olive.params), olive.base) == ("olive", {"config": str(INT4)}, ("hf", "fp32"))
    assert smollm2.references["ortgenai"] == "fp32"  # gated against the builder's FP32, like the builder's INT4
    assert output_format({"config": str(INT4)}) == output_format({"precision": "int4"}) == "ortgenai"
    assert output_format({"precision": "int8", "exporter": "optimum_exporter"}) == "onnx"
    assert recipe("olive").made_by == "Olive" and recipe("ort-genai-builder").made_by == "the GenAI builder"


@pytest.mark.parametrize(
    ("params", "expected"),
    [
        ({"precison": "int4"}, "unknown parameter 'precison'; known: config, command, precision"),
        ({"precision": "int3"}, "precision = 'int3' is not one Olive 0.13.0 accepts; use one of int4, int8"),
        (
            {"precision": "int4", "provider": "CPU"},
            "provider = 'CPU' is not one Olive 0.13.0 accepts; use one of CPUEx",
        ),
        (
            {"precision": "int4", "device": "tpu"},
            "device = 'tpu' is not one Olive 0.13.0 accepts; use one of cpu, gpu, npu",
        ),
        ({"precision": "int4", "block_size": "big"}, "block_size = 'big' is not an integer"),
        ({"provider": "CPUExecutionProvider"}, "set precision (e.g. 'int4') or config = '<workflow file>'"),
        ({"command": "auto-opt", "precision": "int4"}, "command = 'auto-opt' is not supported; use one of optimize"),
    ],
)
def test_bad_command_options_are_one_line_naming_the_value_and_what_works(
    params: dict[str, str], expected: str
) -> None:
    with pytest.raises(ConfigError, match=r"^olive recipe: ") as caught:
        check_params(params)
    assert expected in str(caught.value) and "\n" not in str(caught.value)


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text)
    return path


@pytest.mark.parametrize(
    ("make", "expected"),
    [
        (lambda t: t / "missing.json", "does not exist; give the workflow file's path, relative to the file naming it"),
        (lambda t: _write(t, "flow.toml", "x = 1"), "is not an Olive workflow file; use a .json / .yaml / .yml file"),
        (lambda t: _write(t, "flow.json", "{not json"), "does not parse (Expecting property name"),
        (lambda t: _write(t, "flow.yaml", "passes: [unclosed"), "does not parse ("),
        (
            lambda t: _write(t, "flow.json", "[1, 2]"),
            "is not an Olive workflow (a mapping with input_model and passes)",
        ),
        (
            lambda t: _write(t, "flow.json", json.dumps({"input_model": {"type": "ONNXModel"}, "passes": {}})),
            "input_model type 'ONNXModel' is not supported; the harness runs the workflow on the model's checkpoint",
        ),
        (
            lambda t: workflow(t, {"type": "ModelBilder"}),
            "pass 'model_builder' has type 'ModelBilder', which Olive 0.13.0",
        ),
        (
            lambda t: workflow(t, {"int4_blocksize": 32}),
            "pass 'model_builder' (ModelBuilder) has no option 'int4_blocksize'",
        ),
        (
            lambda t: workflow(t, {"precision": "int3"}),
            "pass 'model_builder' (ModelBuilder) precision: Input should be",
        ),
        (
            lambda t: _write(
                t,
                "flow.json",
                json.dumps({**json.loads(INT4.read_text()), "passes": {"gptq": {"type": "Gptq", "bits": 4}}}),
            ),
            "pass 'gptq' (Gptq) has no data_config, and Olive's default (GPTQ calibrates on wikitext-2) comes from "
            "the Hugging Face Hub",
        ),
        (
            lambda t: workflow(t, {"data_config": "wikitext2_train"}),
            "uses data config 'wikitext2_train', which is not in data_configs",
        ),
        (
            lambda t: _write(
                t,
                "flow.json",
                json.dumps(
                    {
                        **json.loads(INT4.read_text()),
                        "data_configs": [
                            {
                                "name": "calib",
                                "type": "HuggingfaceContainer",
                                "load_dataset_config": {"data_name": "wikitext", "subset": "wikitext-2-raw-v1"},
                            }
                        ],
                    }
                ),
            ),
            "data config 'calib' loads 'wikitext' from the Hugging Face Hub, which the harness does not reach",
        ),
        (
            lambda t: _write(t, "flow.json", json.dumps({**json.loads(INT4.read_text()), "bogus": 1})),
            "Olive rejects the workflow: engine.bogus: Extra inputs are not permitted (got 1)",
        ),
    ],
)
def test_a_bad_workflow_file_is_one_line_naming_the_file_the_value_and_the_fix(
    tmp_path: Path, make: object, expected: str
) -> None:
    path = make(tmp_path)  # type: ignore[operator]
    with pytest.raises(ConfigError) as caught:
        check_params({"config": str(path)})
    message = str(caught.value)
    assert expected in message and str(path) in message and "\n" not in message, message


def test_a_workflow_with_options_beside_it_is_refused(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="is a whole workflow, so 'precision' has nothing to set"):
        check_params({"config": str(INT4), "precision": "int4"})


def test_a_yaml_workflow_is_read_like_json(tmp_path: Path) -> None:
    import yaml

    path = tmp_path / "flow.yml"
    path.write_text(yaml.safe_dump(json.loads(INT4.read_text())))
    check_params({"config": str(path)})


def test_the_cache_key_holds_the_workflow_by_content_not_by_path(tmp_path: Path) -> None:
    first = workflow(tmp_path)
    moved = tmp_path / "elsewhere.json"
    shutil.copy(first, moved)
    assert key_params({"config": str(first)}) == key_params({"config": str(moved)})
    edited = workflow(tmp_path, {"int4_block_size": 64}, name="edited.json")
    assert key_params({"config": str(edited)}) != key_params({"config": str(first)})
    assert recipe("olive").key_params({"config": str(first)})["config"].startswith("sha256:")
    assert "olive-ai 0.13.0" in recipe("olive").tool_versions()


SUITE = """
import pytest

@pytest.mark.benchsuite("olive")
def test_generation(bench_case, bench):
    bench.check(bench_case)
"""

PYPROJECT = """
[tool.benchharness]
threads = 2
[tool.benchharness.workload]
prompt_tokens = 16
gen_tokens = 8
warmup_rounds = 1
min_rounds = 3
min_time_s = 0.0
[tool.benchharness.accuracy]
n_ctx = 64
windows = 4
[tool.benchharness.suites.olive]
models = ["smollm2-135m"]
backends = ["onnxruntime-genai"]
variants = ["fp32", "int4", "int4-olive", "int4-team"]
[tool.benchharness.models.smollm2-135m.variants]
int4-team = { recipe = "olive", config = "olive/int4.json" }   # a team's workflow, relative to this file
[tool.benchharness.suites.olive.gates.accuracy_retained]
min = 0.5
[tool.benchharness.suites.olive.gates.memory_reduction]
min = 0.3
[tool.benchharness.suites.olive.gates]
speedup = false
"""


@pytest.mark.e2e
def test_olives_int4_is_measured_and_gated_next_to_the_builders(pytester: pytest.Pytester) -> None:
    """SmolLM2's checkpoint through Olive's INT4 workflow, on ONNX Runtime GenAI, beside the builder's INT4.

    Same workload, same token ids, same gates, the same FP32 reference; each row says who made it.
    """
    import hashlib

    from benchharness.kinds.causal_lm import SHARED_TOKENS

    pytest.importorskip("onnxruntime_genai", reason="pip install 'benchharness[ortgenai]'")
    pytester.makepyfile(test_suite=SUITE)
    pytester.path.joinpath("pyproject.toml").write_text(PYPROJECT)
    pytester.path.joinpath("olive").mkdir()
    pytester.path.joinpath("olive", "int4.json").write_bytes(INT4.read_bytes())
    result = pytester.runpytest_subprocess("--device=cpu", "-p", "no:cacheprovider", "--no-baseline", timeout=1800)
    result.assert_outcomes(passed=4)
    cases = cases_by(pytester.path)
    olive = cases["smollm2-135m-int4-olive-onnxruntime-genai-cpu"]
    builder = cases["smollm2-135m-int4-onnxruntime-genai-cpu"]
    made = olive["info"]["provenance"]
    assert made["made_by"] == "Olive 0.13.0" and made["recipe"] == "olive" and "olive-ai 0.13.0" in made["tools"]
    assert made["passes"] == ["model_builder (ModelBuilder)"]
    assert made["workflow_sha256"] == hashlib.sha256(INT4.read_bytes()).hexdigest()
    assert builder["info"]["provenance"]["made_by"] == "the GenAI builder"
    for case in (olive, builder):
        assert case["info"]["tokenization"] == SHARED_TOKENS  # the same token ids for every row of the model
        assert case["readings"]["decode_tok_per_s"]["value"] > 0
        assert 0.2 < case["readings"]["top1_accuracy"]["value"] < 1  # far above chance (1 / 49152)
        judged = {v["name"]: v for v in case["verdicts"] if v["check"] == "gate"}
        assert set(judged) == {"accuracy_retained", "memory_reduction"}
        assert all(v["estimate"] is not None and v["status"] in ("pass", "inconclusive") for v in judged.values())
    assert olive["settings"] == builder["settings"]  # the same workload and accuracy settings
    assert olive["info"]["variant_key"] != builder["info"]["variant_key"]
    team = cases["smollm2-135m-int4-team-onnxruntime-genai-cpu"]  # declared in TOML: the same workflow, by content
    assert team["info"]["variant_key"] == olive["info"]["variant_key"], "keyed by the workflow's content, not its path"
    assert team["info"]["provenance"]["made_by"] == "Olive 0.13.0"
    output = result.stdout.str()
    assert "smollm2-135m int4-olive onnxruntime-genai: by Olive 0.13.0 (passes: model_builder (ModelBuilder)" in output
    assert "smollm2-135m int4 onnxruntime-genai: by the GenAI builder (ort-genai-builder)" in output
    html = next((pytester.path / "reports").glob("*.html")).read_text()
    assert "by Olive 0.13.0" in html and "by the GenAI builder" in html


@pytest.mark.slow
def test_the_ready_made_command_is_refused_offline_where_olive_would_download_calibration_data(
    tmp_path: Path,
) -> None:
    """`olive optimize --precision int4` adds GPTQ calibrated on wikitext-2 from the Hub: said before Olive runs."""
    from benchharness.models.olive_format import run_workflow
    from benchharness.models.prepare import Preparer
    from benchharness.settings import default_cache_dir

    checkpoint = Preparer(default_cache_dir(), 2, 1800, print).prepare(builtin_models()["smollm2-135m"], "hf", "fp32")
    with pytest.raises(ConfigError) as caught:
        run_workflow(checkpoint.path, tmp_path / "out", {"precision": "int4"}, 2)
    message = str(caught.value)
    assert message.startswith("the workflow of olive optimize --precision int4: pass 'gptq' (Gptq) has no data_config")
    assert not (tmp_path / "out").exists()


def test_a_missing_olive_is_a_skip_reason_naming_the_install_line() -> None:
    from dataclasses import replace

    absent = replace(recipe("olive"), packages=("olive-ai-absent", "onnxruntime"))
    assert absent.missing_tools() == "recipe olive needs olive-ai-absent (pip install 'benchharness[olive]')"


def test_the_row_says_who_made_it_where_one_format_has_two_makers() -> None:
    from benchharness.matrix import Case
    from benchharness.models.provenance import Provenance
    from benchharness.readings import Measurement, Reading
    from benchharness.records import CaseRecord
    from benchharness.report.provenance import describe, made_by_lines
    from benchharness.results import CaseResult

    tools = "olive-ai 0.13.0, onnxruntime 1.22.0"
    olive = Provenance(
        "olive",
        "Olive 0.13.0",
        tools,
        passes=("mb (ModelBuilder)",),
        workflow="/p/int4.json",
        workflow_sha256="ab" * 32,
    )
    assert describe(olive) == "by Olive 0.13.0 (passes: mb (ModelBuilder); workflow int4.json; sha256 abababababab)"
    builder = Provenance("ort-genai-builder", "the GenAI builder", tools)
    assert describe(builder) == "by the GenAI builder (ort-genai-builder)"
    assert describe(None) is None

    def record(quant: str, made: Provenance | None) -> CaseResult:
        case = Case("s", "m", quant, "onnxruntime-genai", "cpu", reference="fp32", format="ortgenai")
        load = {"load_ms": Reading("load_ms", "ms", 1.0)}  # a case read back without a figure has no measurement
        record = CaseRecord(case, measurement=Measurement(case.id, load, info=child_info(provenance=made)))
        return record.result()

    assert made_by_lines([record("int4", builder), record("int8", builder)]) == []  # one maker: nothing to tell apart
    assert made_by_lines([record("int4", builder), record("int4-olive", olive), record("fp32", None)]) == [
        "  m int4 onnxruntime-genai: by the GenAI builder (ort-genai-builder)",
        "  m int4-olive onnxruntime-genai: " + str(describe(olive)),
    ]


@pytest.mark.parametrize(
    ("declaration", "expected"),
    [
        ('{ recipe = "olive", config = "olive/missing.json" }', r"int4-team: recipe 'olive': .*missing\.json"),
        (
            '{ recipe = "olive", precision = "int4", config = "olive/int4.json" }',
            r"is a whole workflow, so 'precision'",
        ),
        ('{ recipe = "olive", precisions = "int4" }', r"unknown parameter 'precisions'; its parameters: config, "),
    ],
)
def test_a_bad_olive_declaration_stops_pytest_at_start_up_in_one_line(
    pytester: pytest.Pytester, declaration: str, expected: str
) -> None:
    pytest.importorskip("olive", reason="pip install 'benchharness[olive]'")
    pytester.makepyfile(test_suite=SUITE)
    pytester.path.joinpath("pyproject.toml").write_text(
        PYPROJECT.replace('int4-team = { recipe = "olive", config = "olive/int4.json" }', f"int4-team = {declaration}")
    )
    pytester.path.joinpath("olive").mkdir()
    pytester.path.joinpath("olive", "int4.json").write_bytes(INT4.read_bytes())
    result = pytester.runpytest_subprocess("--device=cpu", "-p", "no:cacheprovider", "--no-baseline", timeout=300)
    assert result.ret == 4
    lines = [line for line in result.stderr.lines if line.startswith("ERROR: benchharness:")]
    assert len(lines) == 1 and re.search(expected, lines[0]), result.stderr.str()[-2000:]
