"""An MLP trained on scikit-learn's digits on ONNX Runtime and OpenVINO: FP32 and static INT8.

The matrix and the gate policy live in pyproject.toml, [tool.benchharness.suites.digits-classifier].
"""

import pytest

pytestmark = pytest.mark.benchsuite("digits-classifier")


def test_classification(bench_case, bench):
    bench.check(bench_case)
