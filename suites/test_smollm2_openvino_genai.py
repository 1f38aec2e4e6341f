"""SmolLM2-135M-Instruct on OpenVINO GenAI's LLMPipeline: the openvino suite's IR, as Intel deploys it.

The matrix and the gate policy live in pyproject.toml, [tool.benchharness.suites.smollm2-openvino-genai].
"""

import pytest

pytestmark = pytest.mark.benchsuite("smollm2-openvino-genai")


def test_generation(bench_case, bench):
    bench.check(bench_case)
