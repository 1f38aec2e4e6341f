"""SmolLM2-135M-Instruct on llama.cpp: the F32 reference and five quantizations.

The matrix and the gate policy live in pyproject.toml, [tool.benchharness.suites.smollm2-llamacpp].
"""

import pytest

pytestmark = pytest.mark.benchsuite("smollm2-llamacpp")


def test_generation(bench_case, bench):
    bench.check(bench_case)
