"""SmolLM2-135M-Instruct on ONNX Runtime: the FP32 optimum export, INT8 dynamic and INT4 weight-only.

The matrix and the gate policy live in pyproject.toml, [tool.benchharness.suites.smollm2-onnxruntime].
"""

import pytest

pytestmark = pytest.mark.benchsuite("smollm2-onnxruntime")


def test_generation(bench_case, bench):
    bench.check(bench_case)
