"""SmolLM2-135M-Instruct on ONNX Runtime GenAI: its own builder's FP32, INT8 and INT4 models.

The matrix and the gate policy live in pyproject.toml, [tool.benchharness.suites.smollm2-onnxruntime-genai].
"""

import pytest

pytestmark = pytest.mark.benchsuite("smollm2-onnxruntime-genai")


def test_generation(bench_case, bench):
    bench.check(bench_case)
