"""OpenVINO: stateful causal LMs exported by optimum-intel (the KV cache lives inside the infer
request), encoders, and classifiers read straight from ONNX.

Devices map one to one: cpu -> CPU, gpu -> GPU, npu -> NPU (OpenVINO's plugin names); a device
OpenVINO does not list here is a skip reason. Every variant runs with FP32 inference precision and
an FP32 KV cache, so the reference is FP32 end to end and variants differ only in their weights
(left to itself the CPU plugin may pick bf16 math or a u8 KV cache on some CPUs).
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
from benchharness.models.openvino_format import model_file

OV_DEVICES = {"cpu": "CPU", "gpu": "GPU", "npu": "NPU"}


def compile_model(path: Path, device: str, threads: int) -> Any:
    """A compiled model; a file OpenVINO cannot read is a ModelError with the fix."""
    import openvino as ov

    graph = model_file(path)
    if not graph.is_file():
        raise ModelError(f"{graph} does not exist; re-run prepare or fix the path")
    core = ov.Core()
    config: dict[str, Any] = {"PERFORMANCE_HINT": "LATENCY"}
    if device == "cpu":
        config |= {"INFERENCE_NUM_THREADS": threads, "INFERENCE_PRECISION_HINT": "f32", "KV_CACHE_PRECISION": "f32"}
    try:
        return core.compile_model(core.read_model(graph), OV_DEVICES[device], config)
    except RuntimeError as e:
        raise ModelError(f"OpenVINO cannot load {graph}: {_reason(e)}; re-prepare or replace the file") from None


def _reason(error: Exception) -> str:
    """OpenVINO's message without its 'Exception from src/...cpp:N:' location lines."""
    lines = [line.strip() for line in str(error).splitlines() if line.strip()]
    useful = [line for line in lines if not line.startswith(("Exception from src/", "Check '"))]
    return (useful or lines or [type(error).__name__])[0][:300]


class OvCausalLM(LogitsCausalLM):
    """Greedy generation with optimum-intel's stateful export: input_ids, attention_mask, position_ids, beam_idx."""

    def __init__(self, path: Path, device: str, options: LoadOptions) -> None:
        self._compiled = compile_model(path, device, options.threads)
        names = {i.get_any_name() for i in self._compiled.inputs}
        if not {"input_ids", "beam_idx"} <= names:
            raise ModelError(
                f"{path} is not a stateful causal LM (export it with optimum-intel, task text-generation-with-past)"
            )
        self._request = self._compiled.create_infer_request()
        self._has_position_ids = "position_ids" in names
        self.n_vocab = int(self._compiled.outputs[0].get_partial_shape()[-1].get_length())
        super().__init__(path)
        self._length = 0

    def _run(self, tokens: Sequence[int], fresh: bool) -> npt.NDArray[np.float32]:
        if fresh:
            self._request.reset_state()
            self._length = 0
        total = self._length + len(tokens)
        feeds = {
            "input_ids": np.asarray([tokens], dtype=np.int64),
            "attention_mask": np.ones((1, total), dtype=np.int64),
            "beam_idx": np.zeros(1, dtype=np.int32),
        }
        if self._has_position_ids:
            feeds["position_ids"] = np.arange(self._length, total, dtype=np.int64)[None]
        self._request.infer(feeds)
        self._length = total
        logits: npt.NDArray[np.float32] = self._request.get_output_tensor(0).data[0]
        return logits

    def close(self) -> None:
        self._request = None
        self._compiled = None


class OvTensorModel:
    def __init__(self, path: Path, device: str, options: LoadOptions) -> None:
        self._compiled = compile_model(path, device, options.threads)
        self._request = self._compiled.create_infer_request()
        self.input_names = tuple(i.get_any_name() for i in self._compiled.inputs)
        self._output_names = [o.get_any_name() for o in self._compiled.outputs]

    def run(self, feeds: Mapping[str, npt.NDArray[np.generic]]) -> dict[str, npt.NDArray[np.float32]]:
        self._request.infer(dict(feeds))
        return {name: self._request.get_output_tensor(i).data.copy() for i, name in enumerate(self._output_names)}

    def close(self) -> None:
        self._request = None
        self._compiled = None


class OpenVinoBackend(Backend):
    name: ClassVar[str] = "openvino"
    runtime_module: ClassVar[str] = "openvino"
    extra: ClassVar[str] = "openvino"
    formats: ClassVar[tuple[str, ...]] = ("openvino", "onnx")
    kinds: ClassVar[frozenset[str]] = frozenset({"causal-lm", "encoder", "classifier"})
    devices: ClassVar[tuple[str, ...]] = ("cpu", "gpu", "npu")

    def device_support_reason(self, device: str) -> str | None:
        import openvino as ov

        available = ov.Core().available_devices
        if not any(d.split(".")[0] == OV_DEVICES[device] for d in available):
            return f"OpenVINO sees no {OV_DEVICES[device]} device here (available: {', '.join(available)})"
        return None

    def runtime_version(self) -> str:
        import openvino as ov

        return f"openvino {ov.get_version()}"

    def load(self, path: Path, device: str, options: LoadOptions) -> OvCausalLM:
        return OvCausalLM(path, device, options)

    def load_tensor_model(self, path: Path, device: str, options: LoadOptions) -> OvTensorModel:
        return OvTensorModel(path, device, options)
