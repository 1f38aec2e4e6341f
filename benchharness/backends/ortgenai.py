"""ONNX Runtime GenAI: ONNX Runtime the way its users deploy an LLM (onnxruntime-genai's generator loop).

Generation runs through `og.Generator` exactly as onnxruntime-genai's own benchmark script drives
it: `append_tokens(prompt)` computes the prompt, `generate_next_token()` picks the greedy token
(and, from the second call on, first runs the model on the token picked before). The harness's
clock sits around those calls, as that script's does; the KV cache is the generator's own
(shared past/present buffer sized to the sequence the workload needs, as an application would
size it).

The generator exposes only the last position's logits, so the accuracy task scores the same
model files through plain onnxruntime (`OrtCausalLM`), with the same threads: the same weights and
graph, a row's speed and accuracy belong together. The builder's tokenizer files misread this
GGUF-derived tokenizer, so token ids always come from the harness (one tokenization per model).

Threads are set the way onnxruntime-genai documents: `intra_op_num_threads` in the decoder's
session options (here as a config overlay, leaving the prepared folder untouched).
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
from benchharness.backends.onnxruntime import FORCE_SPINNING_STOP, OrtCausalLM, spinning_setting
from benchharness.errors import ModelError
from benchharness.formats.ortgenai import model_file, read_config
from benchharness.gpus import split_device

PROVIDERS = {"cpu": None, "cuda": "cuda"}


class OrtGenAiCausalLM:
    """Greedy generation through onnxruntime-genai's Generator; scoring through plain onnxruntime."""

    def __init__(self, path: Path, device: str, options: LoadOptions) -> None:
        import onnxruntime_genai as og

        if not model_file(path).is_file():
            raise ModelError(f"{model_file(path)} does not exist; re-run prepare or fix the path")
        genai_config = read_config(path)
        decoder = genai_config["model"]["decoder"]
        self._head_dim = int(decoder["head_size"])
        self.n_vocab = int(genai_config["model"]["vocab_size"])
        self._path, self._device, self._options = path, device, options
        config = og.Config(str(path))
        config.clear_providers()
        kind, index = split_device(device)
        provider = PROVIDERS[kind]
        if provider is not None:
            config.append_provider(provider)
            if provider == "cuda":
                config.set_provider_option(provider, "device_id", str(index))
        session_options: dict[str, Any] = {"intra_op_num_threads": options.threads}
        if options.stop_spinning:  # a string-valued key is handed to onnxruntime as a session config entry
            session_options[FORCE_SPINNING_STOP] = "1"
        config.overlay(json.dumps({"model": {"decoder": {"session_options": session_options}}}))
        try:
            self._model = og.Model(config)
        except Exception as e:  # onnxruntime-genai raises a bare RuntimeError with the runtime's message
            raise ModelError(f"onnxruntime-genai cannot load {path}: {str(e)[:300]}; re-prepare the variant") from None
        self._og = og
        self._tokenizer = VariantTokenizer(path)
        self._generator: Any = None
        self._last: int | None = None
        self._scorer: OrtCausalLM | None = None

    def tokenize(self, text: str) -> list[int]:
        return self._tokenizer(text)

    def prefill(self, tokens: Sequence[int]) -> int:
        self.fill(())
        return self.extend(tokens)

    def fill(self, tokens: Sequence[int]) -> None:
        params = self._og.GeneratorParams(self._model)
        # Greedy, and a KV buffer as long as the workload's longest sequence (not the model's 8192).
        params.set_search_options(do_sample=False, top_k=1, max_length=self._options.n_ctx)
        self._generator = None  # release the previous sequence's buffers first
        self._generator = self._og.Generator(self._model, params)
        if len(tokens):
            self._generator.append_tokens(np.asarray(tokens, dtype=np.int32))

    def extend(self, tokens: Sequence[int]) -> int:
        self._generator.append_tokens(np.asarray(tokens, dtype=np.int32))
        return self._next()

    def decode(self, token: int) -> int:
        if self._generator is None or token != self._last:
            raise ModelError("onnxruntime-genai feeds back its own greedy token; call prefill first and pass it back")
        return self._next()

    def _next(self) -> int:
        self._generator.generate_next_token()
        self._last = int(self._generator.get_next_tokens()[0])
        return self._last

    def score(self, tokens: Sequence[int], first: int) -> npt.NDArray[np.float32]:
        if self._scorer is None:
            self._generator = None
            self._scorer = OrtCausalLM(self._path, self._device, self._options, head_dim=self._head_dim)
        return self._scorer.score(tokens, first)

    @property
    def runtime_settings(self) -> dict[str, str]:
        return {
            "threads": str(self._options.threads),
            "execution_provider": PROVIDERS[split_device(self._device)[0]] or "cpu",
            "max_length": str(self._options.n_ctx),
            "kv_cache": "generator's own (past/present shared buffer)",
            "accuracy": "plain onnxruntime over the same model files",
            "spinning": spinning_setting(self._options.stop_spinning),
        }

    def close(self) -> None:
        self._generator = None
        self._model = None
        if self._scorer is not None:
            self._scorer.close()


class OrtGenAiBackend(Backend):
    name: ClassVar[str] = "onnxruntime-genai"
    runtime_module: ClassVar[str] = "onnxruntime_genai"
    extra: ClassVar[str] = "ortgenai"
    formats: ClassVar[tuple[str, ...]] = ("ortgenai",)
    devices: ClassVar[tuple[str, ...]] = ("cpu", "cuda")

    def device_support_reason(self, kind: str) -> str | None:
        if kind == "cuda":
            import onnxruntime_genai as og

            if not og.is_cuda_available():
                return "this onnxruntime-genai build has no CUDA; install onnxruntime-genai-cuda"
        return None

    def runtime_version(self) -> str:
        import onnxruntime
        import onnxruntime_genai as og

        return f"onnxruntime-genai {og.__version__} (onnxruntime {onnxruntime.__version__})"

    def load(self, path: Path, device: str, options: LoadOptions) -> OrtGenAiCausalLM:
        return OrtGenAiCausalLM(path, device, options)
