"""ONNX Runtime: optimum-exported causal LMs (explicit KV cache), encoders and classifiers.

Devices map to execution providers: cpu -> CPUExecutionProvider, cuda -> CUDAExecutionProvider,
metal -> CoreMLExecutionProvider, gpu/npu -> OpenVINOExecutionProvider. A provider missing from
this onnxruntime build is a skip reason naming the package that has it.

The KV cache stays in onnxruntime's own buffers between decode steps (IO binding of each step's
`present.*` outputs as the next step's `past_key_values.*` inputs), so a step costs one run, not
a copy of the whole cache through numpy.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import numpy.typing as npt

from benchharness.backends.base import Backend, LoadOptions
from benchharness.backends.logits_lm import LogitsCausalLM
from benchharness.errors import ModelError
from benchharness.models.onnx_format import model_file

PROVIDERS = {
    "cpu": ("CPUExecutionProvider", "onnxruntime"),
    "cuda": ("CUDAExecutionProvider", "onnxruntime-gpu"),
    "metal": ("CoreMLExecutionProvider", "onnxruntime (macOS build)"),
    "gpu": ("OpenVINOExecutionProvider", "onnxruntime-openvino"),
    "npu": ("OpenVINOExecutionProvider", "onnxruntime-openvino"),
}


def open_session(path: Path, device: str, threads: int) -> Any:
    """An InferenceSession on the device's provider; a file onnxruntime cannot read is a ModelError."""
    import onnxruntime as ort

    graph = model_file(path)
    if not graph.is_file():
        raise ModelError(f"{graph} does not exist; re-run prepare or fix the path")
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3
    provider = PROVIDERS[device][0]
    provider_options: dict[str, str] = (
        {"device_type": device.upper()} if provider == "OpenVINOExecutionProvider" else {}
    )
    try:
        return ort.InferenceSession(str(graph), options, providers=[(provider, provider_options)])
    except Exception as e:  # onnxruntime raises its own exception types for bad files
        first_line = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise ModelError(
            f"onnxruntime cannot load {graph}: {first_line[:300]}; re-prepare or replace the file"
        ) from None


class OrtCausalLM(LogitsCausalLM):
    """Greedy generation over an optimum export: input_ids, attention_mask, position_ids, past_key_values.*."""

    def __init__(self, path: Path, device: str, options: LoadOptions) -> None:
        self._session = open_session(path, device, options.threads)
        inputs = {i.name: i for i in self._session.get_inputs()}
        self._past_names = [name for name in inputs if name.startswith("past_key_values.")]
        if "input_ids" not in inputs or not self._past_names:
            raise ModelError(
                f"{path} is not a causal LM with a KV cache (export it with task text-generation-with-past)"
            )
        super().__init__(path)
        shape = inputs[self._past_names[0]].shape  # [batch, kv_heads, past, head_dim]
        self._kv_heads, self._head_dim = int(shape[1]), int(shape[3])
        self._has_position_ids = "position_ids" in inputs
        self._kv_type = np.float16 if "float16" in inputs[self._past_names[0]].type else np.float32
        self.n_vocab = int(self._session.get_outputs()[0].shape[-1])
        self._binding: Any = None
        self._past: list[Any] = []
        self._length = 0

    def _run(self, tokens: Sequence[int], fresh: bool) -> npt.NDArray[np.float32]:
        """Feed `tokens` after the cached sequence (or into an empty one); logits for every fed position."""
        import onnxruntime as ort

        if fresh:
            empty = np.zeros((1, self._kv_heads, 0, self._head_dim), self._kv_type)
            self._past = [ort.OrtValue.ortvalue_from_numpy(empty) for _ in self._past_names]
            self._length = 0
        n = len(tokens)
        total = self._length + n
        binding = self._session.io_binding()
        binding.bind_cpu_input("input_ids", np.asarray([tokens], dtype=np.int64))
        binding.bind_cpu_input("attention_mask", np.ones((1, total), dtype=np.int64))
        if self._has_position_ids:
            binding.bind_cpu_input("position_ids", np.arange(self._length, total, dtype=np.int64)[None])
        for name, value in zip(self._past_names, self._past, strict=True):
            binding.bind_ortvalue_input(name, value)
        outputs = [o.name for o in self._session.get_outputs()]
        for name in outputs:
            binding.bind_output(name)
        self._session.run_with_iobinding(binding)
        values = binding.get_outputs()
        self._past = list(values[1:])
        self._length = total
        logits: npt.NDArray[np.float32] = values[0].numpy()[0]
        return logits

    def close(self) -> None:
        self._past = []
        self._session = None


class OrtTensorModel:
    """An encoder or classifier graph: named inputs in, named outputs out."""

    def __init__(self, path: Path, device: str, options: LoadOptions) -> None:
        self._session = open_session(path, device, options.threads)
        self.input_names = tuple(i.name for i in self._session.get_inputs())
        self._output_names = [o.name for o in self._session.get_outputs()]

    def run(self, feeds: Mapping[str, npt.NDArray[np.generic]]) -> dict[str, npt.NDArray[np.float32]]:
        values = self._session.run(self._output_names, dict(feeds))
        return dict(zip(self._output_names, values, strict=True))

    def close(self) -> None:
        self._session = None


class OnnxRuntimeBackend(Backend):
    name: ClassVar[str] = "onnxruntime"
    runtime_module: ClassVar[str] = "onnxruntime"
    extra: ClassVar[str] = "onnx"
    formats: ClassVar[tuple[str, ...]] = ("onnx",)
    kinds: ClassVar[frozenset[str]] = frozenset({"causal-lm", "encoder", "classifier"})
    devices: ClassVar[tuple[str, ...]] = ("cpu", "cuda", "metal", "gpu", "npu")

    def device_support_reason(self, device: str) -> str | None:
        import onnxruntime as ort

        provider, package = PROVIDERS[device]
        if provider not in ort.get_available_providers():
            return f"this onnxruntime build has no {provider}; install {package} for {device}"
        return None

    def runtime_version(self) -> str:
        import onnxruntime as ort

        return f"onnxruntime {ort.__version__}"

    def load(self, path: Path, device: str, options: LoadOptions) -> OrtCausalLM:
        return OrtCausalLM(path, device, options)

    def load_tensor_model(self, path: Path, device: str, options: LoadOptions) -> OrtTensorModel:
        return OrtTensorModel(path, device, options)
