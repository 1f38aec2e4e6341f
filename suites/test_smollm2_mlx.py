"""SmolLM2-135M-Instruct on Apple MLX (mlx-lm): the FP32 reference and 4-bit (FP16 and 8-bit too on Apple silicon).

The matrix and the gate policy live in pyproject.toml, [tool.benchharness.suites.smollm2-mlx].
"""

import pytest

pytestmark = pytest.mark.benchsuite("smollm2-mlx")


def test_generation(bench_case, bench):
    bench.check(bench_case)
