"""SmolLM2-135M-Instruct on OpenVINO: the FP32 IR, FP16, and NNCF INT8 and INT4 weight compression.

The matrix and the gate policy live in pyproject.toml, [tool.benchharness.suites.smollm2-openvino].
"""

import pytest

pytestmark = pytest.mark.benchsuite("smollm2-openvino")


def test_generation(bench_case, bench):
    bench.check(bench_case)
