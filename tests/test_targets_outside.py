"""Deployment targets seen from outside: a bad target table stops pytest at start-up in one line, and a real
run answers each target in the terminal and the report (the digits MLP on ONNX Runtime, seconds)."""

from __future__ import annotations

import re

import pytest

from conftest import digits_project, run_digits

pytest.importorskip("onnxruntime", reason="pip install 'benchharness[onnx]'")
pytest.importorskip("sklearn", reason="pip install 'benchharness[exporters]'")


@pytest.mark.parametrize(
    ("table", "message"),
    [
        (
            'max_model_bytes = "50"',
            r"targets\.phone\.max_model_bytes = '50' is not a size; write a byte count \(52428800\) or a number "
            r"with its unit",
        ),
        ('prefer = ["speed", "cheap"]', r"targets\.phone\.prefer names 'cheap', not a preference; valid: speed"),
        ("max_rss = 1", r"targets\.phone: unknown key 'max_rss'; valid keys: backends, devices, max_memory_bytes"),
    ],
)
def test_a_bad_target_table_stops_pytest_at_start_up_in_one_line(tmp_path, table, message):
    root = digits_project(tmp_path, extra=f"[tool.benchharness.targets.phone]\n{table}")
    code, output = run_digits(root, "--collect-only")
    assert code == 4, output[-2000:]
    errors = [line for line in output.splitlines() if line.startswith("ERROR: ")]
    assert len(errors) == 1 and "Traceback" not in output, output[-2000:]
    assert re.search(message, errors[0]), errors[0]


TARGETS = """
[tool.benchharness.targets.edge]
min_accuracy_retained = 0.5
prefer = ["size", "speed"]
[tool.benchharness.targets.watch]
max_model_bytes = "1 KiB"
[tool.benchharness.targets.npu]
backends = ["openvino"]
"""


@pytest.mark.e2e
def test_a_real_run_answers_each_target_in_the_terminal_and_the_report(tmp_path):
    root = digits_project(tmp_path, files={"targets.toml": TARGETS})
    code, output = run_digits(root, "--bench-config=targets.toml")
    assert code == 0, output[-3000:]
    edge = [line for line in output.splitlines() if line.startswith("target edge: digits-mlp on cpu")]
    assert len(edge) == 1 and ": ship " in edge[0], output[-3000:]
    assert re.search(r"^  accuracy retained [\d.]+%.* >= 50\.00%: met$", output, re.M), output[-3000:]
    watch = re.search(
        r"^target watch: digits-mlp on cpu \(.*\): nothing qualifies among (\d+) candidate\(s\)$", output, re.M
    )
    assert watch, output[-3000:]
    assert re.search(r"^  max_model_bytes <= 1\.00 KiB ruled out .* KiB over\)$", output, re.M), output[-3000:]
    npu = output.splitlines().index(next(line for line in output.splitlines() if line.startswith("target npu: ")))
    assert output.splitlines()[npu + 1] == (  # a newcomer read "backend onnxruntime not in openvino"
        "  ruled out as not among the target's backends (openvino): fp32 on onnxruntime, int8 on onnxruntime"
    )
    report = (root / "reports" / "latest.html").read_text()
    assert 'data-target="edge"' in report and 'data-target="watch"' in report
