"""Apple MLX through mlx-lm: the model's own forward pass with mlx-lm's KV cache.

MLX targets Apple silicon (metal) and also runs on a plain CPU (the `mlx[cpu]` build on Linux), so
the same variants can be checked anywhere. MLX evaluates lazily: every step ends in `.item()` or
a numpy copy, which forces the computation inside the harness's timed region.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import numpy.typing as npt

from benchharness.backends.base import Backend, LoadOptions
from benchharness.backends.hf_tokenizer import VariantTokenizer
from benchharness.errors import ModelError
from benchharness.formats.mlx import CONFIG_FILE


class MlxCausalLM:
    def __init__(self, path: Path, device: str, options: LoadOptions) -> None:
        import mlx.core as mx
        from mlx_lm.utils import load_model

        self._mx = mx
        mx.set_default_device(mx.gpu if device == "metal" else mx.cpu)
        if not (path / CONFIG_FILE).is_file():
            raise ModelError(f"{path} is not an MLX model folder (no {CONFIG_FILE}); re-run prepare or fix the path")
        try:
            self._model: Any = load_model(path)[0]
        except (OSError, ValueError, RuntimeError) as e:
            raise ModelError(f"mlx-lm cannot load {path}: {str(e).splitlines()[0][:300]}; re-prepare it") from None
        self._tokenizer = VariantTokenizer(path)
        self.n_vocab = int(self._model.args.vocab_size)
        self._cache: Any = None

    def tokenize(self, text: str) -> list[int]:
        return self._tokenizer(text)

    def _forward(self, tokens: Sequence[int], fresh: bool) -> Any:
        from mlx_lm.models.cache import make_prompt_cache

        if fresh:
            self._cache = make_prompt_cache(self._model)
        return self._model(self._mx.array([list(tokens)]), cache=self._cache)[0]

    def prefill(self, tokens: Sequence[int]) -> int:
        return int(self._mx.argmax(self._forward(tokens, fresh=True)[-1]).item())  # type: ignore[arg-type]

    def decode(self, token: int) -> int:
        return int(self._mx.argmax(self._forward((token,), fresh=False)[-1]).item())  # type: ignore[arg-type]

    def score(self, tokens: Sequence[int], first: int) -> npt.NDArray[np.float32]:
        logits = self._forward(tokens[:-1], fresh=True)[first:]
        return np.array(logits.astype(self._mx.float32), dtype=np.float32)

    def close(self) -> None:
        self._cache = None
        self._model = None


class MlxBackend(Backend):
    name: ClassVar[str] = "mlx"
    runtime_module: ClassVar[str] = "mlx_lm"
    extra: ClassVar[str] = "mlx"
    formats: ClassVar[tuple[str, ...]] = ("mlx",)
    devices: ClassVar[tuple[str, ...]] = ("cpu", "metal")

    def device_support_reason(self, kind: str) -> str | None:
        import importlib.util

        if importlib.util.find_spec("mlx.core") is None:
            return "mlx-lm is installed but mlx.core is not; pip install 'mlx[cpu]' (Linux) or mlx (macOS)"
        if kind == "metal":
            import mlx.core as mx

            if not mx.metal.is_available():
                return "this MLX build has no Metal (Apple silicon with the macOS mlx wheel is needed)"
        return None

    def runtime_version(self) -> str:
        import importlib.metadata

        return f"mlx {importlib.metadata.version('mlx')}, mlx-lm {importlib.metadata.version('mlx-lm')}"

    def load(self, path: Path, device: str, options: LoadOptions) -> MlxCausalLM:
        return MlxCausalLM(path, device, options)
