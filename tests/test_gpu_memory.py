"""A CUDA case's GPU memory from NVML's recorded answers: a process NVML can see, and a container's that it cannot.

The board's answers are tests/data/nvml_h100_trace.json, recorded on a lent H100 (idle, a bf16 matrix-product
load in one process, idle again). Inside a container NVML reports the host's pid of a process, never the pid
the process knows itself by: replaying the trace's process list as recorded (pid 448 on that machine) to a
test process with another pid is exactly what a case in a container sees. The CUDA context step (made before
load) is not in that trace; its answers here are stated in each test.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
from child_facts import child_info

from benchharness import judge, kinds
from benchharness.cuda_context import retain_primary_context
from benchharness.gates import GateRule
from benchharness.gates.memory import MemoryReduction
from benchharness.isolation import _child_env
from benchharness.judge import GateEvidence
from benchharness.matrix import Case
from benchharness.meters.gpu import GPU_READS, gpu_meter
from benchharness.meters.gpu_board import BoardBeforeLoad, read_board_before_load
from benchharness.readings import Measurement, Reading
from benchharness.records import CaseRecord
from benchharness.report.terminal import table
from benchharness.results import CaseResult

TRACE = json.loads((Path(__file__).parent / "data" / "nvml_h100_trace.json").read_text())
IDLE = [s for s in TRACE["samples"] if s["phase"] == "idle-before"]
LOAD = [s for s in TRACE["samples"] if s["phase"] == "load"]
RECORDED_PID = 448  # the recording process's pid on the lent H100, as NVML listed it
CONTEXT = 536_870_912  # the context step's answer in these tests (512 MiB): stated, not recorded


class Board:
    """NVML over one board: a list of answers per call, each replayed in turn (the last one repeats)."""

    class NVMLError(Exception):
        pass

    def __init__(self, used: list[float], processes: list[list[tuple[int, int | None]]]) -> None:
        self.used, self.processes = list(used), list(processes)
        self.replayed = 0

    def nvmlInit(self) -> None:
        pass

    def nvmlDeviceGetHandleByIndex(self, index: int) -> int:
        return index

    def nvmlDeviceGetMemoryInfo(self, handle: int) -> SimpleNamespace:
        used = self.used.pop(0) if len(self.used) > 1 else self.used[0]
        return SimpleNamespace(total=TRACE["static"]["memory_total_bytes"], used=used)

    def nvmlDeviceGetComputeRunningProcesses(self, handle: int) -> list[SimpleNamespace]:
        self.replayed += 1
        listed = self.processes.pop(0) if len(self.processes) > 1 else self.processes[0]
        return [SimpleNamespace(pid=pid, usedGpuMemory=memory) for pid, memory in listed]

    def nvmlDeviceGetUtilizationRates(self, handle: int) -> SimpleNamespace:
        return SimpleNamespace(gpu=100)


def made(ordinal: int) -> str | None:
    """A retain step that made the context (the driver answered CUDA_SUCCESS)."""
    return None


def replayed_region(board: Board, before: BoardBeforeLoad | None) -> dict[str, Reading]:
    """Every recorded load sample through the meter's side thread, and the meter's readings by name."""
    meter, unavailable = gpu_meter("cuda", board, before)
    assert meter is not None and unavailable == []
    meter.interval_s = 0.001
    meter.start()
    deadline = time.monotonic() + 30
    while board.replayed < len(LOAD) and time.monotonic() < deadline:
        time.sleep(0.001)
    assert board.replayed >= len(LOAD), "the side thread did not replay the recorded samples"
    readings, _ = meter.stop()
    return {r.name: r for r in readings}


def test_a_visible_process_reads_its_context_from_its_own_nvml_entry():
    idle = IDLE[-1]["memory_used_bytes"]
    board = Board([idle, idle + CONTEXT + 4_194_304], [[(RECORDED_PID, 1_000_000), (os.getpid(), CONTEXT)]])
    before, why = read_board_before_load("cuda", board, retain=made)
    assert why is None and before is not None
    assert before.context_bytes == CONTEXT and before.own_pid_listed and before.processes == 2
    assert before.used_bytes == idle and "this process's memory on the board" in before.context_source


def test_a_containers_process_reads_its_context_from_the_boards_used_memory():
    """NVML lists the host's pid (the trace's 448), not ours: the board's used memory tells the context's cost."""
    idle = IDLE[-1]["memory_used_bytes"]
    board = Board([idle, idle + CONTEXT], [[(RECORDED_PID, CONTEXT)]])
    before, _ = read_board_before_load("cuda", board, retain=made)
    assert before is not None and before.own_pid_listed is False and before.context_bytes == CONTEXT
    assert f"none with this pid {os.getpid()}" in before.context_source


def test_no_driver_means_no_context_figure_with_the_drivers_reason():
    idle = IDLE[-1]["memory_used_bytes"]
    no_driver = retain_primary_context(0, library="libcuda-not-here.so.1")
    assert no_driver is not None and no_driver.startswith("no CUDA driver: libcuda-not-here.so.1 could not be loaded")
    before, _ = read_board_before_load("cuda", Board([idle], [[]]), retain=lambda ordinal: no_driver)
    assert before is not None and before.context_bytes is None and no_driver in before.context_source

    class NoDriver(Board):
        def nvmlInit(self) -> None:
            raise self.NVMLError("Driver Not Loaded")

    assert read_board_before_load("cuda", NoDriver([0], [[]])) == (None, "no NVML (Driver Not Loaded)")
    with pytest.raises(ValueError, match="device 'cpu' is not a CUDA device; only cuda and cuda:N"):
        read_board_before_load("cpu", Board([0], [[]]))


def test_in_a_container_the_region_reads_the_boards_used_memory_from_the_h100_trace():
    """The recorded load, its processes under the host's pid: the board's figure stands in, labelled as such."""
    idle = IDLE[-1]["memory_used_bytes"]
    board = Board(
        [s["memory_used_bytes"] for s in LOAD],
        [[(p["pid"], p["used_gpu_memory"]) for p in s["processes"]] for s in LOAD],
    )
    before = BoardBeforeLoad(idle, float(CONTEXT), "stated", False, 1)
    readings = replayed_region(board, before)
    memory = readings["gpu_memory_bytes"]
    peak_used = max(s["memory_used_bytes"] for s in LOAD)
    assert memory.value == peak_used - idle == 1_059_913_728
    # What NVML gave the process itself at its peak: the board's figure is within 1% of it on this trace.
    process_peak = max(p["used_gpu_memory"] for s in LOAD for p in s["processes"])
    assert 1.0 <= memory.value / process_peak < 1.01
    assert "the board's used memory minus the board before load" in memory.source
    assert f"NVML lists no process with this pid ({os.getpid()})" in memory.source and "container" in memory.source
    assert readings["gpu_context_bytes"].value == CONTEXT
    assert readings["gpu_model_memory_bytes"].value == memory.value - CONTEXT
    assert [name for name, _ in GPU_READS] == list(readings)


def test_in_a_container_beside_another_process_the_memory_is_unavailable_not_zero():
    idle = IDLE[-1]["memory_used_bytes"]
    board = Board([s["memory_used_bytes"] for s in LOAD], [[(RECORDED_PID, 1), (RECORDED_PID + 1, 1)]])
    readings = replayed_region(board, BoardBeforeLoad(idle, float(CONTEXT), "stated", False, 2))
    memory, model = readings["gpu_memory_bytes"], readings["gpu_model_memory_bytes"]
    assert memory.value is None and model.value is None
    assert "2 processes hold memory on the board, so its used memory is not this case's alone" in str(
        memory.unavailable_reason
    )
    assert str(model.unavailable_reason).startswith("gpu_memory_bytes: NVML lists no process with this pid")
    unread = replayed_region(Board([idle], [[(RECORDED_PID, 1)]]), None)
    assert "and the board was not read before load" in str(unread["gpu_memory_bytes"].unavailable_reason)
    assert unread["gpu_context_bytes"].unavailable_reason == "the board was not read before load"


def test_a_visible_process_keeps_its_own_nvml_figure_and_the_model_is_that_without_the_context():
    board = Board(
        [s["memory_used_bytes"] for s in LOAD],
        [[(os.getpid(), p["used_gpu_memory"]) for p in s["processes"]] for s in LOAD],
    )
    readings = replayed_region(board, BoardBeforeLoad(IDLE[-1]["memory_used_bytes"], float(CONTEXT), "stated", True, 1))
    assert readings["gpu_memory_bytes"].value == 1_050_673_152  # the recorded process's peak
    assert "this process's memory on the board (peak, its CUDA context included)" in readings["gpu_memory_bytes"].source
    assert readings["gpu_model_memory_bytes"].value == 1_050_673_152 - CONTEXT


def gpu_case(whole_mib: float, model_mib: float | None) -> Measurement:
    model = (
        Reading("gpu_model_memory_bytes", "B", model_mib * 2**20)
        if model_mib is not None
        else Reading.unavailable("gpu_model_memory_bytes", "B", "gpu_context_bytes: no CUDA driver")
    )
    return Measurement(
        "case",
        {"gpu_memory_bytes": Reading("gpu_memory_bytes", "B", whole_mib * 2**20), "gpu_model_memory_bytes": model},
        child_info(kind="causal-lm"),
    )


def test_the_memory_gate_on_cuda_compares_the_models_without_the_context_both_pay():
    """900 vs 1,400 MiB whole is a 36% cut (a fail); without a 400 MiB context each it is 500 vs 1,000 MiB (50%)."""
    lm = kinds.kind("causal-lm")
    rule = GateRule("memory_reduction", 0.5)
    evidence = GateEvidence("q4_0", "f32", lm, [gpu_case(900, 500)], [gpu_case(1400, 1000)], device="cuda")
    assert MemoryReduction().judged_figure(rule, evidence) == "gpu_model_memory_bytes"
    (verdict,) = judge.judge_gates([rule], evidence, 0.95)
    assert verdict.status == "pass" and "GPU memory (model) 500 MiB vs reference f32 1000 MiB" in verdict.message
    whole = GateRule("memory_reduction", 0.5, metric="gpu_memory_bytes")
    (verdict,) = judge.judge_gates([whole], evidence, 0.95)
    assert verdict.status == "fail" and "GPU memory (process) 900 MiB" in verdict.message
    no_context = GateEvidence("q4_0", "f32", lm, [gpu_case(900, None)], [gpu_case(1400, 1000)], device="cuda")
    (verdict,) = judge.judge_gates([rule], no_context, 0.95)
    assert verdict.status == "unavailable" and "no CUDA driver" in verdict.message


def test_the_child_numbers_cuda_boards_as_nvml_does():
    assert _child_env()["CUDA_DEVICE_ORDER"] == "PCI_BUS_ID"


def test_the_run_table_shows_gpu_memory_columns_only_for_a_model_measured_on_a_gpu():
    def record(device: str, readings: dict[str, Reading]) -> CaseResult:
        case = Case("s", "m", "q4_0", "llamacpp", device, reference="f32", format="gguf")
        return CaseRecord(case, measurement=Measurement(case.id, readings, info=child_info(kind="causal-lm"))).result()

    on_gpu = record(
        "cuda",
        {
            "gpu_memory_bytes": Reading("gpu_memory_bytes", "B", 900 * 2**20),
            "gpu_model_memory_bytes": Reading("gpu_model_memory_bytes", "B", 500 * 2**20),
        },
    )
    header, _, row = table([on_gpu])[1:4]

    def under(title: str) -> str:
        return row[header.index(title) :].split()[0]

    assert under("GPU MiB") == "900" and under("GPU model MiB") == "500"
    on_cpu = record("cpu", {"model_memory_bytes": Reading("model_memory_bytes", "B", 80 * 2**20)})
    assert "GPU" not in table([on_cpu])[1]


STUB_DRIVER = r"""
/* The four driver calls cuda_context.py makes, as libcuda.so.1 declares them: one device, ordinal 0. */
typedef int CUresult;
CUresult cuInit(unsigned int flags) { return flags == 0 ? 0 : 1; }
CUresult cuDeviceGet(int *device, int ordinal) { if (ordinal != 0) return 101; *device = 0; return 0; }
CUresult cuDevicePrimaryCtxRetain(void **context, int device) { *context = (void *)0x1; return device == 0 ? 0 : 101; }
CUresult cuGetErrorName(CUresult status, const char **name) {
    if (status != 101) return 1;
    *name = "CUDA_ERROR_INVALID_DEVICE";
    return 0;
}
"""


def test_the_primary_context_is_made_through_the_drivers_own_calls(tmp_path):
    """A one-device stand-in for libcuda.so.1, built here: the calls, their arguments and the driver's error names."""
    import shutil
    import subprocess

    compiler = shutil.which("cc") or shutil.which("gcc")
    if compiler is None:
        pytest.skip("no C compiler to build the stand-in driver")
    (tmp_path / "driver.c").write_text(STUB_DRIVER)
    library = tmp_path / "libcuda-stub.so"
    subprocess.run([compiler, "-shared", "-fPIC", "-o", str(library), str(tmp_path / "driver.c")], check=True)
    assert retain_primary_context(0, library=str(library)) is None
    assert retain_primary_context(1, library=str(library)) == (
        "no CUDA device 1: cuDeviceGet gave CUDA_ERROR_INVALID_DEVICE (101)"
    )
