"""OpenVINO GenAI: OpenVINO the way Intel recommends deploying an LLM (`openvino_genai.LLMPipeline`).

The pipeline loads the same stateful IR the `openvino` backend runs, with OpenVINO's defaults for
the device (on CPUs with AVX-512 BF16 or AMX that means bf16 math and a u8 KV cache; the plain
`openvino` backend pins FP32 instead). It generates whole sequences, so a round's timings come
from its own PerfMetrics: time to first token and every later token's duration, the figures its
users read. Prompt (prefix) caching is switched off, or every round after the first would reuse
the prompt's KV cache and TTFT would time a cache hit.

The pipeline returns no logits, so the accuracy task scores the same IR through plain OpenVINO
with the same defaults (precision hints read back from the compiled model and recorded with
every result): the same weights and math as the timed rows. Token ids are always the harness's
(one tokenization per model); the pipeline's own tokenizer is not involved.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import numpy.typing as npt

from benchharness.backends.base import Backend, LoadOptions
from benchharness.backends.hf_tokenizer import VariantTokenizer
from benchharness.backends.openvino import NO_SPIN_PROPERTY, OV_DEVICES, OvCausalLM, _reason
from benchharness.errors import ModelError
from benchharness.formats.openvino import model_file


def vocab_size(path: Path) -> int:
    """The vocabulary size from the exported config.json (the pipeline does not expose logits or their width)."""
    try:
        return int(json.loads((path / "config.json").read_text())["vocab_size"])
    except (OSError, ValueError, KeyError) as e:
        raise ModelError(f"{path}/config.json gives no vocab_size ({e}); re-prepare the variant") from None


class OvGenAiPipeline:
    """An LLMPipeline over a variant's IR; greedy, no prefix caching, timed by its PerfMetrics."""

    def __init__(self, path: Path, device: str, options: LoadOptions) -> None:
        import openvino_genai as og

        if not model_file(path).is_file():
            raise ModelError(f"{model_file(path)} does not exist; re-run prepare or fix the path")
        scheduler = og.SchedulerConfig()
        scheduler.enable_prefix_caching = False
        properties: dict[str, Any] = {"scheduler_config": scheduler}
        if device == "cpu":
            properties["INFERENCE_NUM_THREADS"] = options.threads
        try:
            self._pipeline = og.LLMPipeline(str(path), OV_DEVICES[device], **properties)
        except RuntimeError as e:
            raise ModelError(f"OpenVINO GenAI cannot load {path}: {_reason(e)}; re-prepare the variant") from None
        self._og = og
        self._path, self._device, self._options = path, device, options
        self._tokenizer = VariantTokenizer(path)
        self._scorer: OvCausalLM | None = None
        self.n_vocab = vocab_size(path)

    def tokenize(self, text: str) -> list[int]:
        return self._tokenizer(text)

    def _generate(self, prompt: Sequence[int], new_tokens: int) -> Any:
        import openvino as ov

        config = self._og.GenerationConfig()
        config.max_new_tokens = config.min_new_tokens = new_tokens
        config.ignore_eos = True
        config.do_sample = False
        ids = np.asarray([prompt], dtype=np.int64)
        inputs = self._og.TokenizedInputs(ov.Tensor(ids), ov.Tensor(np.ones_like(ids)))
        return self._pipeline.generate(inputs, config)

    def timed_generation(
        self, prompt: Sequence[int], gen_tokens: int
    ) -> tuple[float, tuple[float, ...], tuple[int, ...]]:
        result = self._generate(prompt, gen_tokens + 1)
        raw = result.perf_metrics.raw_metrics
        ttft_us = list(raw.m_times_to_first_token)
        steps_us = list(raw.m_durations)
        if len(ttft_us) != 1 or len(steps_us) != gen_tokens:
            raise ModelError(
                f"OpenVINO GenAI reported {len(ttft_us)} first-token times and {len(steps_us)} step times "
                f"for one generation of {gen_tokens + 1} tokens; this openvino-genai is not supported"
            )
        return ttft_us[0] / 1e6, tuple(step / 1e6 for step in steps_us), tuple(int(t) for t in result.tokens[0])

    def prefill(self, tokens: Sequence[int]) -> int:
        return int(self._generate(tokens, 1).tokens[0][0])

    def generate(self, prompt: Sequence[int], new_tokens: int) -> list[int]:
        """`new_tokens` greedy tokens after `prompt`, in one call (the pipeline cannot be stepped from outside)."""
        return [int(t) for t in self._generate(prompt, new_tokens).tokens[0]]

    def decode(self, token: int) -> int:
        raise ModelError("OpenVINO GenAI generates whole sequences; the harness times it through timed_generation")

    def score(self, tokens: Sequence[int], first: int) -> npt.NDArray[np.float32]:
        if self._scorer is None:
            self._scorer = OvCausalLM(self._path, self._device, self._options, pin_fp32=False)
        return self._scorer.score(tokens, first)

    @property
    def runtime_settings(self) -> dict[str, str]:
        settings = {
            "prefix_caching": "off",
            "threads": str(self._options.threads),
            "precision": "device defaults",
            "spinning": NO_SPIN_PROPERTY,
        }
        if self._scorer is not None:
            settings |= self._scorer.runtime_settings
        return settings

    def close(self) -> None:
        self._pipeline = None
        if self._scorer is not None:
            self._scorer.close()


class OpenVinoGenAiBackend(Backend):
    name: ClassVar[str] = "openvino-genai"
    runtime_module: ClassVar[str] = "openvino_genai"
    extra: ClassVar[str] = "openvino-genai"
    formats: ClassVar[tuple[str, ...]] = ("openvino",)
    devices: ClassVar[tuple[str, ...]] = ("cpu", "gpu", "npu")

    def device_support_reason(self, kind: str) -> str | None:
        import openvino as ov

        available = ov.Core().available_devices
        if not any(d.split(".")[0] == OV_DEVICES[kind] for d in available):
            return f"OpenVINO sees no {OV_DEVICES[kind]} device here (available: {', '.join(available)})"
        return None

    def runtime_version(self) -> str:
        import openvino_genai as og

        return f"openvino-genai {og.__version__}"

    def load(self, path: Path, device: str, options: LoadOptions) -> OvGenAiPipeline:
        return OvGenAiPipeline(path, device, options)
