"""all-MiniLM-L6-v2 sentence embeddings on ONNX Runtime and OpenVINO: FP32 and INT8, batch 1 and 32.

The matrix and the gate policy live in pyproject.toml, [tool.benchharness.suites.minilm-encoder].
"""

import pytest

pytestmark = pytest.mark.benchsuite("minilm-encoder")


def test_embedding(bench_case, bench):
    bench.check(bench_case)
