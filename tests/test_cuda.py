"""The CUDA path without a GPU: NVML answers recorded from a real board, a GPU build's provider list, skips.

The recorded answers are tests/data/nvml_h100_trace.json's `static` block, read on a lent H100 with
nvidia-ml-py. The provider list is what onnxruntime-gpu 1.31.1's wheel reports (installed in a scratch
virtual environment on a CPU machine: the list is compiled in). What CI cannot do, run a kernel on a
GPU, is left to a session with a lent machine; everything the harness itself decides is tested here.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import numpy as np
import pytest
from child_facts import child_info

from benchharness import devices, gpus, judge, kinds, machine
from benchharness.backends import registry
from benchharness.cli_options import Filters
from benchharness.gates import GateRule
from benchharness.judge import GateEvidence
from benchharness.matrix import expand
from benchharness.meters.guards import GuardReading
from benchharness.meters.region import gpu_meter
from benchharness.models.registry import build_registry
from benchharness.protocol import PairedTiming
from benchharness.readings import Measurement, Reading
from benchharness.settings import SuiteConfig

BOARD = json.loads((Path(__file__).parent / "data" / "nvml_h100_trace.json").read_text())["static"]
ONNXRUNTIME_GPU_PROVIDERS = ["TensorrtExecutionProvider", "CUDAExecutionProvider", "CPUExecutionProvider"]


class RecordedNvml:
    """NVML replaying the H100's recorded answers, for `boards` identical boards (or failing as told)."""

    class NVMLError(Exception):
        pass

    def __init__(self, boards: int = 1, init_error: str | None = None) -> None:
        self.boards, self.init_error = boards, init_error
        self.inits = self.shutdowns = 0

    def nvmlInit(self) -> None:
        if self.init_error:
            raise self.NVMLError(self.init_error)
        self.inits += 1

    def nvmlShutdown(self) -> None:
        self.shutdowns += 1

    def nvmlSystemGetDriverVersion(self) -> str:
        return str(BOARD["driver_version"])

    def nvmlDeviceGetCount(self) -> int:
        return self.boards

    def nvmlDeviceGetHandleByIndex(self, index: int) -> int:
        if index >= self.boards:
            raise self.NVMLError("Invalid Argument")
        return index

    def nvmlDeviceGetName(self, handle: int) -> bytes:
        return str(BOARD["name"]).encode()  # bytes, as older nvidia-ml-py releases return

    def nvmlDeviceGetMemoryInfo(self, handle: int) -> SimpleNamespace:
        return SimpleNamespace(total=BOARD["memory_total_bytes"], used=0, free=BOARD["memory_total_bytes"])

    def nvmlDeviceGetCudaComputeCapability(self, handle: int) -> tuple[int, int]:
        major, minor = BOARD["compute_capability"]
        return major, minor


def on_a_machine_with(monkeypatch: pytest.MonkeyPatch, boards: int) -> None:
    """Make detection see `boards` recorded H100s (the caches cleared before and after)."""
    found = gpus.nvidia_gpus(RecordedNvml(boards))
    for module in (devices, machine):
        monkeypatch.setattr(module, "gpus_here", lambda: found)
    devices.detect.cache_clear()
    machine.fingerprint.cache_clear()
    monkeypatch.setattr(devices, "_driver_boards", lambda: [])


@pytest.fixture(autouse=True)
def fresh_caches():
    yield
    devices.detect.cache_clear()
    machine.fingerprint.cache_clear()


def test_nvml_describes_the_recorded_board():
    nvml = RecordedNvml()
    (gpu,), reason = gpus.nvidia_gpus(nvml)
    assert reason is None and nvml.inits == nvml.shutdowns == 1
    assert gpu == gpus.NvidiaGpu(0, "NVIDIA H100 80GB HBM3", 85520809984, (9, 0), "580.159.04")
    assert gpu.describe() == "NVIDIA H100 80GB HBM3 (80 GiB, compute capability 9.0)"


def test_no_nvml_no_driver_is_no_gpu_with_the_reason():
    found, reason = gpus.nvidia_gpus(RecordedNvml(init_error="Driver Not Loaded"))
    assert found == () and reason == "NVML unavailable: Driver Not Loaded"


def test_device_names_carry_an_index_only_when_there_are_several_gpus():
    assert gpus.cuda_device_names(0) == ("cuda",)
    assert gpus.cuda_device_names(1) == ("cuda",)
    assert gpus.cuda_device_names(2) == ("cuda:0", "cuda:1")
    assert gpus.split_device("cuda:1") == ("cuda", 1)
    assert gpus.split_device("cuda") == ("cuda", 0) and gpus.split_device("cpu") == ("cpu", 0)
    with pytest.raises(ValueError, match=r"device 'cuda:x' has an index that is not a number; write it as cuda:N"):
        gpus.split_device("cuda:x")


def test_auto_on_a_two_gpu_machine_means_cpu_and_each_gpu(monkeypatch):
    on_a_machine_with(monkeypatch, 2)
    assert devices.resolve_devices("auto") == ("cpu", "cuda:0", "cuda:1", "metal", "gpu", "npu")
    assert devices.resolve_devices("cuda:1,cpu") == ("cuda:1", "cpu")
    first = devices.detect("cuda:0")
    assert first.present and first.detail == (
        "GPU 0: NVIDIA H100 80GB HBM3 (80 GiB, compute capability 9.0), driver 580.159.04"
    )
    third = devices.detect("cuda:2")
    assert not third.present and "this machine has 2 NVIDIA GPU(s), cuda:0..cuda:1" in third.detail


def test_auto_on_a_one_gpu_machine_and_on_none(monkeypatch):
    on_a_machine_with(monkeypatch, 1)
    assert devices.resolve_devices("auto") == ("cpu", "cuda", "metal", "gpu", "npu")
    assert devices.detect("cuda").present
    on_a_machine_with(monkeypatch, 0)
    assert devices.resolve_devices("auto") == ("cpu", "cuda", "metal", "gpu", "npu")  # cuda kept: a skip
    status = devices.detect("cuda")
    assert not status.present and "no NVIDIA GPU with a loaded driver" in status.detail


@pytest.mark.parametrize("bad", ["cpu:0", "tpu", "cuda:-1", "cuda:"])
def test_a_bad_device_name_is_one_line_naming_it(bad):
    with pytest.raises(ValueError, match="device") as raised:
        devices.resolve_devices(bad)
    assert bad in str(raised.value) and "\n" not in str(raised.value)


def test_the_fingerprint_names_each_board(monkeypatch):
    on_a_machine_with(monkeypatch, 2)
    info = machine.fingerprint()
    assert info["gpus"] == ["NVIDIA H100 80GB HBM3 (80 GiB, compute capability 9.0)"] * 2
    assert info["nvidia_driver"] == "580.159.04"
    other = dict(info, gpus=["NVIDIA H100 NVL (94 GiB, compute capability 9.0)"] * 2)
    assert machine.comparable(info, other) == [f"gpus: {info['gpus']!r} vs {other['gpus']!r}"]


def test_cases_on_each_gpu_with_skip_reasons_for_runtimes_that_have_no_cuda(monkeypatch):
    on_a_machine_with(monkeypatch, 2)
    suite = SuiteConfig(
        "s", variants=("q4_0", "int4", "4bit"), backends=("llamacpp", "openvino", "mlx"), devices=("cpu", "cuda")
    )
    cases = expand(
        suite, build_registry([]), {n: cls() for n, cls in registry().items()}, ("cpu", "cuda:0", "cuda:1"), Filters()
    )
    by_id = {c.id: c for c in cases}
    assert "smollm2-135m-q4_0-llamacpp-cuda:1" in by_id
    for backend, quant in (("openvino", "int4"), ("mlx", "4bit")):
        reason = by_id[f"smollm2-135m-{quant}-{backend}-cuda:0"].skip_reason or ""
        assert f"{backend} does not target device 'cuda'" in reason
    llama = by_id["smollm2-135m-q4_0-llamacpp-cuda:0"].skip_reason or ""
    pytest.importorskip("llama_cpp")
    import llama_cpp

    if not llama_cpp.llama_supports_gpu_offload():  # this machine's CPU build: the skip names the build flag
        assert 'CMAKE_ARGS="-DGGML_CUDA=on" pip install --force-reinstall --no-cache-dir llama-cpp-python' in llama


def test_llamacpp_puts_every_layer_on_the_cases_own_gpu():
    pytest.importorskip("llama_cpp")
    import llama_cpp as ll

    from benchharness.backends.llamacpp import gpu_model_params

    params = gpu_model_params(ll, ll.llama_model_default_params(), "cuda:1")
    assert (params.n_gpu_layers, params.split_mode, params.main_gpu) == (999, ll.LLAMA_SPLIT_MODE_NONE, 1)
    cpu = gpu_model_params(ll, ll.llama_model_default_params(), "cpu")
    assert cpu.n_gpu_layers == 0


def test_onnxruntime_cuda_provider_from_a_gpu_build_and_the_skip_from_a_cpu_build(monkeypatch):
    ort = pytest.importorskip("onnxruntime")
    from benchharness.backends.onnxruntime import OnnxRuntimeBackend, provider_for

    assert provider_for("cuda:1") == ("CUDAExecutionProvider", {"device_id": "1"})
    assert provider_for("cuda") == ("CUDAExecutionProvider", {"device_id": "0"})
    assert provider_for("cpu") == ("CPUExecutionProvider", {})
    backend = OnnxRuntimeBackend()
    monkeypatch.setattr(ort, "get_available_providers", lambda: ONNXRUNTIME_GPU_PROVIDERS)
    assert backend.device_support_reason("cuda") is None
    monkeypatch.setattr(ort, "get_available_providers", lambda: ["AzureExecutionProvider", "CPUExecutionProvider"])
    reason = backend.device_support_reason("cuda") or ""
    assert (
        "no CUDAExecutionProvider; install onnxruntime-gpu for cuda" in reason and "pip uninstall onnxruntime" in reason
    )


class RecordingBinding:
    """onnxruntime's IOBinding, recording where each input and output is bound."""

    def __init__(self, outputs: list[str], n_vocab: int) -> None:
        self.outputs_named, self.n_vocab = outputs, n_vocab
        self.bound: dict[str, tuple[str, ...]] = {}
        self.synchronised = False

    def bind_cpu_input(self, name: str, value: Any) -> None:
        self.bound[name] = ("cpu input",)

    def bind_ortvalue_input(self, name: str, value: Any) -> None:
        self.bound[name] = ("ortvalue", *value.device)

    def bind_output(self, name: str, device_type: str = "cpu", device_id: int = 0) -> None:
        self.bound[name] = (device_type, str(device_id))

    def synchronize_outputs(self) -> None:
        self.synchronised = True

    def get_outputs(self) -> list[Any]:
        logits = np.zeros((1, 1, self.n_vocab), np.float32)
        logits[0, -1, 7] = 1.0
        return [SimpleNamespace(numpy=lambda: logits, device=self.bound[self.outputs_named[0]])] + [
            SimpleNamespace(device=self.bound[name]) for name in self.outputs_named[1:]
        ]


def test_onnxruntime_keeps_the_kv_cache_on_the_gpu_between_steps(monkeypatch):
    ort = pytest.importorskip("onnxruntime")
    from benchharness.backends import logits_lm, onnxruntime
    from benchharness.backends.base import LoadOptions

    names = ["present.0.key", "present.0.value"]
    inputs = [
        SimpleNamespace(name="input_ids", shape=[1, "s"], type="tensor(int64)"),
        SimpleNamespace(name="attention_mask", shape=[1, "t"], type="tensor(int64)"),
        *(
            SimpleNamespace(name=n.replace("present.", "past_key_values."), shape=[1, 3, "p", 64], type="tensor(float)")
            for n in names
        ),
    ]
    outputs = [SimpleNamespace(name="logits", shape=[1, "s", 49152]), *(SimpleNamespace(name=n) for n in names)]
    bindings: list[RecordingBinding] = []

    class Session:
        def get_inputs(self):
            return inputs

        def get_outputs(self):
            return outputs

        def io_binding(self):
            bindings.append(RecordingBinding(["logits", *names], 49152))
            return bindings[-1]

        def run_with_iobinding(self, binding):
            pass

    class OrtValue:
        @staticmethod
        def ortvalue_from_numpy(array, device_type="cpu", device_id=0):
            return SimpleNamespace(device=(device_type, str(device_id)))

    monkeypatch.setattr(onnxruntime, "open_session", lambda *args, **kwargs: (Session(), None))
    monkeypatch.setattr(logits_lm, "VariantTokenizer", lambda path: None)
    monkeypatch.setattr(ort, "OrtValue", OrtValue)
    model = onnxruntime.OrtCausalLM(Path("unused"), "cuda:1", LoadOptions(threads=2, n_ctx=64, n_batch=64))
    assert model.prefill([1, 2, 3]) == 7 and model.decode(7) == 7
    fresh, step = bindings
    for binding in (fresh, step):
        assert binding.bound["logits"] == ("cpu", "0")  # only the logits come back to the host
        assert binding.bound["present.0.key"] == ("cuda", "1") and binding.synchronised
    assert fresh.bound["past_key_values.0.key"] == ("ortvalue", "cuda", "1")  # the empty cache is made there
    assert step.bound["past_key_values.0.value"] == ("ortvalue", "cuda", "1")  # last step's present, not copied
    assert "cuda memory" in model.runtime_settings["kv_cache"]


def gpu_measurement(gpu_mib: float | None, model_mib: float) -> Measurement:
    """A CUDA case: `gpu_mib` of model on the board (plus a 400 MiB CUDA context), `model_mib` of it in RSS."""
    gpu, whole = (
        (
            Reading("gpu_model_memory_bytes", "B", gpu_mib * 2**20),
            Reading("gpu_memory_bytes", "B", (gpu_mib + 400) * 2**20),
        )
        if gpu_mib is not None
        else (
            Reading.unavailable("gpu_model_memory_bytes", "B", "gpu_memory_bytes: no NVML (Driver Not Loaded)"),
            Reading.unavailable("gpu_memory_bytes", "B", "no NVML (Driver Not Loaded)"),
        )
    )
    return Measurement(
        "case",
        {
            "gpu_model_memory_bytes": gpu,
            "gpu_memory_bytes": whole,
            "model_memory_bytes": Reading("model_memory_bytes", "B", model_mib * 2**20),
            "peak_rss_bytes": Reading("peak_rss_bytes", "B", (model_mib + 300) * 2**20),
        },
        child_info(kind="causal-lm"),
    )


def test_the_memory_gate_of_a_cuda_case_compares_its_memory_on_the_board():
    lm = kinds.kind("causal-lm")
    rule = GateRule("memory_reduction", 0.5)
    # On the board: 600 vs 1000 MiB (a 40% cut, a fail); in host memory the model barely shows (20 vs 100 MiB).
    on_gpu = GateEvidence("q4_0", "f32", lm, [gpu_measurement(600, 20)], [gpu_measurement(1000, 100)], device="cuda:0")
    (verdict,) = judge.judge_gates([rule], on_gpu, 0.95)
    assert verdict.status == "fail" and "GPU memory (model) 600 MiB vs reference f32 1000 MiB" in verdict.message
    on_cpu = GateEvidence("q4_0", "f32", lm, [gpu_measurement(600, 20)], [gpu_measurement(1000, 100)], device="cpu")
    (verdict,) = judge.judge_gates([rule], on_cpu, 0.95)
    assert verdict.status == "pass" and "model memory 20 MiB" in verdict.message
    process = GateRule("memory_reduction", 0.5, metric="peak_rss_bytes")
    (verdict,) = judge.judge_gates([process], on_gpu, 0.95)
    assert "peak RSS 320 MiB" in verdict.message  # a suite's explicit figure applies as written
    no_nvml = GateEvidence("q4_0", "f32", lm, [gpu_measurement(None, 20)], [gpu_measurement(1000, 100)], device="cuda")
    (verdict,) = judge.judge_gates([rule], no_nvml, 0.95)
    assert verdict.status == "unavailable" and "gpu_model_memory_bytes unavailable" in verdict.message
    assert "Driver Not Loaded" in verdict.message


def test_gpu_meters_read_the_cases_own_board():
    handles: list[int] = []

    class Board(RecordedNvml):
        def nvmlDeviceGetHandleByIndex(self, index: int) -> int:
            handles.append(index)
            return index

    meter, unavailable = gpu_meter("cuda:1", Board(2))
    assert meter is not None and unavailable == [] and handles == [1]


def test_a_known_breach_can_be_declared_for_one_device_kind():
    rule = GateRule("speedup", 2.0, known_breaches=("q4_0@cuda", "f16"))
    assert rule.known_breach("q4_0", "cuda:1") and rule.known_breach("q4_0", "cuda")
    assert not rule.known_breach("q4_0", "cpu") and rule.known_breach("f16", "cpu")
    lm = kinds.kind("causal-lm")
    slow = PairedTiming(
        "case", "decode_tok_per_s", (800.0,) * 6, (930.0,) * 6, ("VR",) * 6, GuardReading(), GuardReading(), 1.0
    )
    none = Measurement("case", {}, child_info())
    on_gpu = GateEvidence("q4_0", "f32", lm, [none], [none], [slow], device="cuda:0")
    (verdict,) = judge.judge_gates([rule], on_gpu, 0.95)
    assert verdict.status == "fail" and verdict.known_breach and "speedup 0.86x" in verdict.message
    on_cpu = GateEvidence("q4_0", "f32", lm, [none], [none], [slow], device="cpu")
    (verdict,) = judge.judge_gates([rule], on_cpu, 0.95)
    assert verdict.status == "fail" and not verdict.known_breach


def test_nvml_energy_and_process_memory_replayed_from_the_h100_trace():
    """The board's own counter, power and per-process answers over idle, a bf16 matmul load, and idle again."""
    from benchharness.meters.energy import nvml_meter

    samples = json.loads((Path(__file__).parent / "data" / "nvml_h100_trace.json").read_text())["samples"]
    idle = [s for s in samples if s["phase"] == "idle-before"]
    load = [s for s in samples if s["phase"] == "load"]

    class Replay(RecordedNvml):
        def __init__(self) -> None:
            super().__init__()
            self.power = iter(s["power_mw"] for s in idle)
            # the meter's probe, then the timed region's start and end
            self.energy = iter([idle[-1]["energy_mj"], load[0]["energy_mj"], load[-1]["energy_mj"]])
            self.load = iter(load)
            self.replayed = 0

        def nvmlDeviceGetPowerUsage(self, handle: int) -> int:
            return next(self.power)

        def nvmlDeviceGetTotalEnergyConsumption(self, handle: int) -> int:
            return next(self.energy)

        def nvmlDeviceGetComputeRunningProcesses(self, handle: int) -> list[SimpleNamespace]:
            self.replayed += 1
            sample = next(self.load, load[-1])
            return [SimpleNamespace(pid=os.getpid(), usedGpuMemory=p["used_gpu_memory"]) for p in sample["processes"]]

        def nvmlDeviceGetUtilizationRates(self, handle: int) -> SimpleNamespace:
            return SimpleNamespace(gpu=100)

    meter, reason = nvml_meter(0, Replay())
    assert reason is None and meter is not None
    assert 70 < meter.idle_w < 76  # the board's idle draw, ~73 W on this H100
    meter.start()
    joules = meter.stop()
    seconds = load[-1]["t"] - load[0]["t"]
    assert joules == (load[-1]["energy_mj"] - load[0]["energy_mj"]) / 1000  # 2074.6 J over 3.1 s
    assert 600 < joules / seconds < 720  # ~670 W under load, below the board's 700 W limit
    board = Replay()
    gpu, _ = gpu_meter("cuda", board)
    assert gpu is not None
    gpu.interval_s = 0.001  # the side thread replays every recorded sample
    gpu.start()
    deadline = time.monotonic() + 30
    while board.replayed < len(load) and time.monotonic() < deadline:
        time.sleep(0.01)
    readings, _ = gpu.stop()
    peak = max(p["used_gpu_memory"] for s in load for p in s["processes"])
    memory = next(r for r in readings if r.name == "gpu_memory_bytes")
    assert memory.value == peak == 1050673152  # the recorded process's peak on the board (CUDA context included)
