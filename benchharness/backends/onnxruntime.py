"""ONNX Runtime: optimum-exported causal LMs (explicit KV cache), encoders and classifiers.

Devices map to execution providers: cpu -> CPUExecutionProvider, cuda -> CUDAExecutionProvider,
metal -> CoreMLExecutionProvider, gpu/npu -> OpenVINOExecutionProvider. A provider missing from
this onnxruntime build is a skip reason naming the package that has it.

The KV cache stays in onnxruntime's own buffers between decode steps (IO binding of each step's
`present.*` outputs as the next step's `past_key_values.*` inputs), so a step costs one run, not
a copy of the whole cache through numpy. On CUDA those buffers are in the board's memory: only the
token ids go in and only the logits asked for come back across PCIe, and every run ends with the
binding's outputs synchronised, so nothing is still queued on the GPU when the harness's clock stops.
"""

from __future__ import annotations

import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any, ClassVar

import numpy as np
import numpy.typing as npt

from benchharness.backends.base import Backend, LoadOptions
from benchharness.backends.logits_lm import LogitsCausalLM
from benchharness.errors import ModelError
from benchharness.formats.onnx import model_file
from benchharness.formats.onnx_last_logits import LOGITS_FROM, NOT_A_CAUSAL_LM, graph_for
from benchharness.gpus import split_device

PROVIDERS = {
    "cpu": ("CPUExecutionProvider", "onnxruntime"),
    "cuda": ("CUDAExecutionProvider", "onnxruntime-gpu"),
    "metal": ("CoreMLExecutionProvider", "onnxruntime (macOS build)"),
    "gpu": ("OpenVINOExecutionProvider", "onnxruntime-openvino"),
    "npu": ("OpenVINOExecutionProvider", "onnxruntime-openvino"),
}


def provider_for(device: str) -> tuple[str, dict[str, str]]:
    """The execution provider for a device name, with the options that pin it to that device."""
    kind, index = split_device(device)
    provider = PROVIDERS[kind][0]
    if provider == "OpenVINOExecutionProvider":
        return provider, {"device_type": kind.upper()}
    if provider == "CUDAExecutionProvider":
        return provider, {"device_id": str(index)}
    return provider, {}


# onnxruntime's intra-op workers busy-wait after each run; this session option stops them when the last
# run returns (they spin again inside the next run, so a run's own speed is kept).
FORCE_SPINNING_STOP = "session.force_spinning_stop"


def spinning_setting(stop_spinning: bool) -> str:
    """What `runtime_settings` records about the workers' busy-waiting between runs."""
    if stop_spinning:
        return f"stopped when each run returns ({FORCE_SPINNING_STOP}=1); workers spin only inside a run"
    return "onnxruntime's default: workers keep spinning after a run returns"


def open_session(
    path: Path, device: str, threads: int, last_logits: bool = False, stop_spinning: bool = True
) -> tuple[Any, Path | None]:
    """An InferenceSession on the device's provider, and a scratch folder to remove when it closes (or None).

    A file onnxruntime cannot read is a ModelError. `last_logits` loads the graph with a
    `logits_from` input in front of the LM head (logits_lm.py): prepare's copy beside the variant,
    or, for a located variant, one made now into a scratch folder (formats/onnx_last_logits.py). Nothing
    is ever written into the variant's own folder.
    """
    import onnxruntime as ort

    graph = model_file(path)
    if not graph.is_file():
        raise ModelError(f"{graph} does not exist; re-run prepare or fix the path")
    options = ort.SessionOptions()
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    options.log_severity_level = 3
    if stop_spinning:
        options.add_session_config_entry(FORCE_SPINNING_STOP, "1")
    provider, provider_options = provider_for(device)
    source, scratch = graph_for(path) if last_logits else (graph, None)
    try:
        return ort.InferenceSession(str(source), options, providers=[(provider, provider_options)]), scratch
    except Exception as e:  # onnx and onnxruntime raise their own exception types for bad files
        remove_scratch(scratch)
        first_line = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        raise ModelError(
            f"onnxruntime cannot load {graph}: {first_line[:300]}; re-prepare or replace the file"
        ) from None


def remove_scratch(scratch: Path | None) -> None:
    if scratch is not None:
        shutil.rmtree(scratch, ignore_errors=True)


class OrtCausalLM(LogitsCausalLM):
    """Greedy generation over an optimum export: input_ids, attention_mask, position_ids, past_key_values.*."""

    def __init__(self, path: Path, device: str, options: LoadOptions, head_dim: int | None = None) -> None:
        """`head_dim` is for graphs whose KV inputs leave it symbolic (onnxruntime-genai's builder)."""
        self._session, self._scratch = open_session(
            path, device, options.threads, last_logits=True, stop_spinning=options.stop_spinning
        )
        self._stop_spinning = options.stop_spinning
        inputs = {i.name: i for i in self._session.get_inputs()}
        self._past_names = [name for name in inputs if name.startswith("past_key_values.")]
        if "input_ids" not in inputs or not self._past_names:
            raise ModelError(NOT_A_CAUSAL_LM.format(path=path))
        super().__init__(path)
        shape = inputs[self._past_names[0]].shape  # [batch, kv_heads, past, head_dim]
        self._kv_heads = int(shape[1])
        if not isinstance(shape[3], int) and head_dim is None:
            raise ModelError(f"{path}: the KV cache's head size is symbolic ({shape[3]!r}) and not given")
        self._head_dim: int = int(shape[3]) if isinstance(shape[3], int) else int(head_dim or 0)
        self._has_position_ids = "position_ids" in inputs
        self._kv_type: type[np.floating[Any]] = (
            np.float16 if "float16" in inputs[self._past_names[0]].type else np.float32
        )
        self._output_names = [o.name for o in self._session.get_outputs()]
        self.n_vocab = int(self._session.get_outputs()[0].shape[-1])
        # Each step's present.N.* becomes the next step's past_key_values.N.*, matched by name.
        self._next_past = {
            name: name.replace("present.", "past_key_values.", 1)
            for name in self._output_names
            if name.startswith("present.")
        }
        if sorted(self._next_past.values()) != sorted(self._past_names):
            raise ModelError(f"{path}: its present.* outputs do not match its past_key_values.* inputs")
        self._past: dict[str, Any] = {}
        self._length = 0
        self._threads = options.threads
        # Where the KV cache lives between steps: the board's memory on CUDA, host memory otherwise.
        kind, index = split_device(device)
        self._kv_device: tuple[str, int] = ("cuda", index) if kind == "cuda" else ("cpu", 0)

    @property
    def runtime_settings(self) -> dict[str, str]:
        return {
            "threads": str(self._threads),
            "graph_optimization": "all",
            "prefill_logits": "last position only",
            "kv_cache": f"IO-bound, in {self._kv_device[0]} memory between steps",
            "spinning": spinning_setting(self._stop_spinning),
        }

    def _run(self, tokens: Sequence[int], fresh: bool, logits_from: int) -> npt.NDArray[np.float32]:
        """Feed `tokens` after the cached sequence (or into an empty one); logits of fed positions logits_from.."""
        import onnxruntime as ort

        if fresh:
            empty = np.zeros((1, self._kv_heads, 0, self._head_dim), self._kv_type)
            self._past = {name: ort.OrtValue.ortvalue_from_numpy(empty, *self._kv_device) for name in self._past_names}
            self._length = 0
        n = len(tokens)
        total = self._length + n
        binding = self._session.io_binding()
        binding.bind_cpu_input("input_ids", np.asarray([tokens], dtype=np.int64))
        binding.bind_cpu_input("attention_mask", np.ones((1, total), dtype=np.int64))
        if self._has_position_ids:
            binding.bind_cpu_input("position_ids", np.arange(self._length, total, dtype=np.int64)[None])
        binding.bind_cpu_input(LOGITS_FROM, np.array([logits_from], dtype=np.int64))
        for name, value in self._past.items():
            binding.bind_ortvalue_input(name, value)
        for name in self._output_names:
            if name in self._next_past:
                binding.bind_output(name, *self._kv_device)  # the next step's past, left where it was made
            else:
                binding.bind_output(name, "cpu")  # the logits: argmax and scoring read them on the host
        self._session.run_with_iobinding(binding)
        if self._kv_device[0] != "cpu":
            binding.synchronize_outputs()  # nothing left queued on the GPU when the clock stops
        values = dict(zip(self._output_names, binding.get_outputs(), strict=True))
        self._past = {past: values[present] for present, past in self._next_past.items()}
        self._length = total
        logits: npt.NDArray[np.float32] = values[self._output_names[0]].numpy()[0]
        return logits

    def close(self) -> None:
        self._past = {}
        self._session = None
        remove_scratch(self._scratch)


class OrtTensorModel:
    """An encoder or classifier graph: named inputs in, named outputs out."""

    def __init__(self, path: Path, device: str, options: LoadOptions) -> None:
        self._session, _ = open_session(path, device, options.threads, stop_spinning=options.stop_spinning)
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

    def device_support_reason(self, kind: str) -> str | None:
        import onnxruntime as ort

        provider, package = PROVIDERS[kind]
        if provider not in ort.get_available_providers():
            hint = " (pip uninstall onnxruntime first: both install the onnxruntime module)" if kind == "cuda" else ""
            return f"this onnxruntime build has no {provider}; install {package} for {kind}{hint}"
        return None

    def runtime_version(self) -> str:
        import onnxruntime as ort

        return f"onnxruntime {ort.__version__}"

    def load(self, path: Path, device: str, options: LoadOptions) -> OrtCausalLM:
        return OrtCausalLM(path, device, options)

    def load_tensor_model(self, path: Path, device: str, options: LoadOptions) -> OrtTensorModel:
        return OrtTensorModel(path, device, options)
