import mmap
import os
import subprocess
import sys
import time
from pathlib import Path
from unittest.mock import patch

import psutil
import pytest

from benchharness.meters.energy import RaplMeter, energy_meter, nvml_meter, rapl_package_zones, rapl_zones
from benchharness.meters.memory import RssSampler, current_rss, peak_rss
from benchharness.meters.resources import Energy, energy_readings
from benchharness.meters.utilisation import CpuWindow, bottleneck_flags, outside_load, usable_cores
from benchharness.readings import Reading
from conftest import child_env


def make_zone(root, name, energy, max_range=1000):
    zone = root / name
    zone.mkdir(parents=True)
    (zone / "name").write_text("package-0\n")
    (zone / "energy_uj").write_text(f"{energy}\n")
    (zone / "max_energy_range_uj").write_text(f"{max_range}\n")
    return zone


def test_absent_powercap_gives_a_reason(tmp_path):
    zones, reason = rapl_package_zones(tmp_path / "missing")
    assert zones == [] and "no RAPL counters" in reason


def test_rapl_energy_with_counter_wraparound(tmp_path):
    zone = make_zone(tmp_path, "intel-rapl:0", 900)
    make_zone(tmp_path, "intel-rapl:0:0", 5)  # a sub-zone, already inside the package figure
    zones, reason = rapl_package_zones(tmp_path)
    assert reason is None and [z.name for z in zones] == ["intel-rapl:0:package-0"]
    meter = RaplMeter(zones)
    meter.start()
    (zone / "energy_uj").write_text("100\n")  # wrapped past max_energy_range_uj=1000
    assert meter.stop() == (1000 - 900 + 100) / 1e6


def test_devices_without_a_counter_say_why():
    meter, reason = energy_meter("npu")
    assert meter is None and "no energy counter for device 'npu'" in reason
    meter, reason = energy_meter("metal")
    assert meter is None and "powermetrics needs sudo" in reason


def test_dram_is_added_to_the_package_and_a_root_only_counter_says_how_to_grant_it(tmp_path):
    make_zone(tmp_path, "intel-rapl:0", 10)
    dram = make_zone(tmp_path, "intel-rapl:0:1", 20)
    (dram / "name").write_text("dram\n")
    zones, reason = rapl_zones(tmp_path)
    assert reason is None and [z.name for z in zones] == ["intel-rapl:0:package-0", "intel-rapl:0:1:dram"]
    locked = tmp_path / "locked"
    make_zone(locked, "intel-rapl:0", 10)
    with patch.object(Path, "read_text", side_effect=PermissionError("denied")):
        zones, reason = rapl_zones(locked)
    assert zones == [] and "readable only by root" in reason and "chmod o+r" in reason


class FakeNvml:
    """NVML as a recorded trace: each call returns the next recorded counter value (or raises)."""

    class NVMLError(Exception):
        pass

    def __init__(self, energy_mj, power_mw=(60_000,), init_error=None, energy_error=None):
        self.energy = iter(energy_mj)
        self.power = list(power_mw)
        self.init_error, self.energy_error = init_error, energy_error

    def nvmlInit(self):
        if self.init_error:
            raise self.NVMLError(self.init_error)

    def nvmlDeviceGetHandleByIndex(self, index):
        return index

    def nvmlDeviceGetName(self, handle):
        return b"NVIDIA H100 80GB HBM3"

    def nvmlDeviceGetTotalEnergyConsumption(self, handle):
        if self.energy_error:
            raise self.NVMLError(self.energy_error)
        return next(self.energy)

    def nvmlDeviceGetPowerUsage(self, handle):
        return self.power.pop(0) if len(self.power) > 1 else self.power[0]


def test_nvml_energy_with_idle_draw_from_a_recorded_trace():
    meter, reason = nvml_meter(0, FakeNvml([5_000_000, 5_000_000, 5_012_500, 5_012_500, 5_025_000]))
    assert reason is None and meter is not None
    assert "NVIDIA H100 80GB HBM3" in meter.source and "idle draw 60.0 W" in meter.source
    meter.start()
    assert meter.stop() == 12.5
    meter.start()
    assert meter.stop() == 12.5
    assert meter.unusable_reason([12.5, 12.5]) is None


def test_nvml_absent_driver_no_permission_no_counter_and_a_stuck_counter():
    meter, reason = nvml_meter(0, FakeNvml([], init_error="Driver Not Loaded"))
    assert meter is None and "Driver Not Loaded" in reason and "no NVIDIA driver" in reason
    meter, reason = nvml_meter(0, FakeNvml([], energy_error="Insufficient Permissions"))
    assert meter is None and "Insufficient Permissions" in reason
    meter, reason = nvml_meter(0, FakeNvml([], energy_error="Not Supported"))
    assert meter is None and "needs Volta or newer" in reason
    stuck, _ = nvml_meter(0, FakeNvml([7_000] * 5))
    stuck.start()
    assert stuck.stop() == 0.0
    assert "did not move during 2 timed runs" in stuck.unusable_reason([0.0, 0.0])


def test_this_machine_reports_energy_unavailable_with_the_reason_or_a_real_figure():
    meter, reason = energy_meter("cpu")
    if meter is None:
        assert reason and ("RAPL" in reason or "powercap" in reason)
    else:
        meter.start()
        time.sleep(0.1)
        assert meter.stop() >= 0.0


def test_energy_per_token_follows_the_runs_or_is_unavailable_with_one_reason():
    class Counter:
        source = "trace"

        def unusable_reason(self, joules):
            return None

    readings = energy_readings(Energy(Counter(), None), [6.4, 6.4, 6.4], 64, "token")
    by_name = {r.name: r for r in readings}
    assert by_name["energy_per_token_j"].value == 0.1 and by_name["tokens_per_j"].value == 10.0
    none = energy_readings(Energy(None, "no RAPL counters: absent"), [None], 64, "token")
    assert [r.name for r in none] == ["energy_j", "energy_per_token_j", "tokens_per_j"]
    assert all(not r.available and r.unavailable_reason == "no RAPL counters: absent" for r in none)


def test_unavailable_energy_readings_carry_the_units_their_figures_have():
    """tokens_per_j ends in `_j` but is tokens/J: unavailable, it said J (the metric's spec and a figure say tokens/J)."""
    from benchharness.readings import metric_spec

    for unit in ("token", "item"):
        none = energy_readings(Energy(None, "no RAPL counters: absent"), [None], 32, unit)
        assert [r.unit for r in none] == [metric_spec(r.name).unit for r in none] == ["J", "J", f"{unit}s/J"]


def test_peak_rss_is_a_real_positive_reading():
    reading = peak_rss()
    assert reading.value and reading.value > 10 * 2**20 and reading.unit == "B" and "VmHWM" in reading.source


def test_peak_memory_is_the_childs_own_not_the_parents(tmp_path):
    """A child exec'd from a large parent must not inherit the parent's high-water mark."""
    import subprocess
    import sys

    code = (
        "import os, subprocess, sys\n"
        "hog = bytearray(400 * 2**20)\n"  # the parent grows to >400 MiB, then starts a small child
        "hog[::4096] = b'x' * len(hog[::4096])\n"
        "out = subprocess.run([sys.executable, '-c', 'from benchharness.meters.memory import peak_rss; "
        "print(peak_rss().value)'], capture_output=True, text=True, check=True).stdout\n"
        "print(out)\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=child_env())
    child_peak = float(done.stdout)
    assert child_peak < 300 * 2**20


def test_cpu_window_reads_this_process_busy_and_each_core():
    window = CpuWindow()
    cpu_before, wall_before = time.process_time(), time.perf_counter()
    window.start()
    deadline = time.perf_counter() + 0.3
    while time.perf_counter() < deadline:  # one busy thread
        pass
    region = window.stop()
    own = (time.process_time() - cpu_before) / (time.perf_counter() - wall_before)  # cores this process used
    reading, per_core = region.utilisation, region.per_core
    cores = usable_cores()
    assert reading.unit == "fraction" and "usable cores" in reading.source
    # What the one thread got, whatever else the machine runs (on a loaded host it gets less than a core).
    assert reading.value <= 1.0 / cores + 0.05
    assert reading.value == pytest.approx(own / cores, abs=0.1)
    assert len(per_core) == psutil.cpu_count() and all(0.0 <= c <= 1.0 for c in per_core)
    assert window.available_at_start > 0 and window.rss_at_start > 0


def test_outside_load_is_the_machine_busy_time_the_case_did_not_use():
    reading = outside_load(machine_busy_s=3.0, machine_total_s=4.0, own_s=1.2, cores=2)
    assert reading.name == "outside_cpu_load" and reading.value == pytest.approx(0.45)
    assert "minus the case's own process tree" in reading.source
    assert outside_load(1.0, 4.0, 1.05, 2).value == 0.0  # tick rounding never reads negative
    assert not outside_load(0.0, 0.0, 0.0, 2).available


def test_cpu_window_counts_a_busy_process_it_did_not_start_as_outside_load():
    """A busy loop in an unrelated process is outside load, at least the CPU time that process used."""
    # Started through a parent that exits at once, so the loop is nobody's child here (like other work).
    spawn = (
        "import subprocess, sys\n"
        "loop = 'import time\\nt = time.time() + 4\\nwhile time.time() < t: pass'\n"
        "quiet = {'stdout': subprocess.DEVNULL, 'stderr': subprocess.DEVNULL}\n"
        "print(subprocess.Popen([sys.executable, '-c', loop], **quiet).pid)"
    )
    pid = int(subprocess.run([sys.executable, "-c", spawn], capture_output=True, text=True, check=True).stdout)
    loop = psutil.Process(pid)
    try:
        time.sleep(0.3)
        before = sum(loop.cpu_times()[:2])
        window = CpuWindow()
        window.start()
        time.sleep(1.0)
        region = window.stop()
        used = sum(loop.cpu_times()[:2]) - before
    finally:
        loop.kill()
    all_cores = psutil.cpu_count() * 1.0
    assert used > 0.3  # the loop got CPU time (it had at least a third of a core)
    assert region.outside_load.value is not None
    assert region.outside_load.value >= 0.8 * used / all_cores - 0.02


def test_bottleneck_flags_name_the_figure_that_raised_them():
    steady = Reading("decode_tok_per_s", "tok/s", 100.0, stdev=5.0, n=8)
    assert bottleneck_flags(0.5, 100 * 2**20, 10 * 2**30, steady) == []
    shaky = Reading("decode_tok_per_s", "tok/s", 100.0, stdev=30.0, n=8)
    flags = bottleneck_flags(0.97, 9.5 * 2**30, 10 * 2**30, shaky)
    assert [f.name for f in flags] == ["cpu_bound", "memory_bound", "inconsistent"]
    assert "CPU utilisation 97%" in flags[0].figure and "peak RSS 9728 MiB of 10240 MiB" in flags[1].figure
    assert "decode_tok_per_s varies 30% over 8 rounds" in flags[2].figure
    one_round = Reading("decode_tok_per_s", "tok/s", 100.0, stdev=50.0, n=1)
    assert bottleneck_flags(None, None, None, one_round) == []


def test_model_memory_is_what_the_region_held_beyond_the_rss_before_load():
    before = current_rss()
    sampler = RssSampler(before, interval_s=0.005)
    sampler.start()
    # 64 MiB made resident inside the region, as a loaded model's weights are: fresh anonymous pages, touched
    # (a numpy array could reuse memory the allocator kept from earlier tests, and add nothing to RSS).
    block = mmap.mmap(-1, 64 * 2**20)
    for offset in range(0, 64 * 2**20, mmap.PAGESIZE):
        block[offset] = 1
    time.sleep(0.05)
    readings = {r.name: r for r in sampler.stop()}
    block.close()
    model = readings["model_memory_bytes"]
    assert 60 * 2**20 < model.value < 200 * 2**20 and "minus the RSS before the model was loaded" in model.source
    assert readings["region_peak_rss_bytes"].value >= before + model.value - 1
    assert len(sampler.samples) >= 3
    blind = RssSampler(None)
    blind.start()
    unknown = {r.name: r for r in blind.stop()}["model_memory_bytes"]
    assert readings["rss_anon_bytes"].value is None or readings["rss_anon_bytes"].value >= 60 * 2**20
    assert not unknown.available and "RSS before load was not read" in unknown.unavailable_reason


def test_an_asked_for_estimate_is_labelled_and_kept_apart_from_measured_energy():
    energy = Energy.for_device("cpu", estimate_cpu_tdp_w=65.0)
    if energy.meter is not None:
        pytest.skip("this machine has a real energy counter; the estimate is only for machines without one")
    assert energy.round_meter is energy.estimate
    joules = []
    for _ in range(3):
        energy.round_meter.start()
        deadline = time.perf_counter() + 0.05
        while time.perf_counter() < deadline:
            pass
        joules.append(energy.round_meter.stop())
    readings = {r.name: r for r in energy_readings(energy, joules, 64, "token")}
    assert not readings["energy_j"].available and readings["energy_j"].unavailable_reason == energy.reason
    estimated = readings["estimated_energy_per_token_j"]
    assert estimated.value > 0 and estimated.source.startswith("ESTIMATED, not measured: TDP 65 W")
    assert Energy.for_device("cpu").estimate is None  # never without being asked


def test_gpu_memory_and_utilisation_from_a_recorded_nvml_trace():
    from types import SimpleNamespace

    from benchharness.meters.region import RegionMeters, gpu_meter

    class Trace(FakeNvml):
        def __init__(self):
            super().__init__([])
            self.memory = iter([100, 300, 250] + [250] * 1000)
            self.rates = iter([50, 90, 70] + [70] * 1000)

        def nvmlDeviceGetComputeRunningProcesses(self, handle):
            return [
                SimpleNamespace(pid=os.getpid(), usedGpuMemory=next(self.memory) * 2**20),
                SimpleNamespace(pid=1, usedGpuMemory=5000 * 2**20),  # another process on the board: not ours
            ]

        def nvmlDeviceGetUtilizationRates(self, handle):
            return SimpleNamespace(gpu=next(self.rates))

        def nvmlDeviceGetMemoryInfo(self, handle):
            return SimpleNamespace(used=5400 * 2**20)

    meter, unavailable = gpu_meter("cuda", Trace())
    assert unavailable == [] and meter is not None
    meter.interval_s = 10.0  # no side samples: the trace's start and stop samples only
    meter.start()
    readings, _ = meter.stop()
    by_name = {r.name: r for r in readings}
    assert by_name["gpu_memory_bytes"].value == 300 * 2**20  # the peak of this pid's samples (100, 300)
    assert 0.5 <= by_name["gpu_utilisation"].value <= 0.9 and "NVML" in by_name["gpu_utilisation"].source
    assert gpu_meter("cpu") == (None, [])
    _, why = gpu_meter("cuda", FakeNvml([], init_error="Driver Not Loaded"))
    assert [r.name for r in why] == [
        "gpu_memory_bytes",
        "gpu_model_memory_bytes",
        "gpu_context_bytes",
        "gpu_utilisation",
    ] and "Driver Not Loaded" in why[0].unavailable_reason
    region = RegionMeters.default(current_rss(), "cpu")
    region.start()
    names = {r.name for r in region.stop()[0]}
    assert names == {
        "cpu_utilisation",
        "outside_cpu_load",
        "region_peak_rss_bytes",
        "model_memory_bytes",
        "rss_anon_bytes",
        "rss_file_bytes",
    }


def test_the_sampler_counts_processes_the_case_started():
    import subprocess
    import sys

    before = current_rss()
    sampler = RssSampler(before, interval_s=0.01)
    child = subprocess.Popen([sys.executable, "-c", "import time; b = b'x' * (96 * 2**20); time.sleep(1.5)"])
    try:
        sampler.start()
        time.sleep(1.0)  # the child allocates, the sampler lists it and reads its RSS
        readings = {r.name: r for r in sampler.stop()}
    finally:
        child.wait()
    assert readings["model_memory_bytes"].value > 90 * 2**20 and "process tree" in readings["model_memory_bytes"].source


def test_resident_memory_splits_into_anonymous_and_file_backed_pages(tmp_path):
    """Issue 23 part 4: a memory-mapped model is file-backed (reclaimable); repacked weights are anonymous."""
    from benchharness.meters.memory import resident_split

    status = tmp_path / "status"
    status.write_text("VmRSS:\t  900 kB\nRssAnon:\t  500 kB\nRssFile:\t  300 kB\nRssShmem:\t  100 kB\n")
    anon, file = resident_split(status)
    assert (anon.value, file.value) == (500 * 1024, 400 * 1024)
    status.write_text("VmRSS: 900 kB\n")
    assert all(r.value is None and "RssAnon" in (r.unavailable_reason or "") for r in resident_split(status))
    blob = tmp_path / "weights.bin"
    blob.write_bytes(b"\1" * (32 * 2**20))
    before = resident_split()[1].value
    with blob.open("rb") as f, mmap.mmap(f.fileno(), 0, access=mmap.ACCESS_READ) as mapped:
        assert sum(mapped[i] for i in range(0, len(mapped), 4096)) == len(mapped) // 4096  # touch every page
        after = resident_split()[1].value
    assert before is not None and after is not None and after - before >= 30 * 2**20, (before, after)


def test_huge_page_use_reads_the_rollup_and_says_none_where_there_is_none(tmp_path):
    """Each child records how much of its memory the kernel mapped in 2 MiB pages (info.huge_pages)."""
    from benchharness.meters.huge_pages import HugePages, huge_page_use

    rollup = tmp_path / "smaps_rollup"
    rollup.write_text("Rss:  524288 kB\nAnonHugePages:  4096 kB\nFilePmdMapped:  456704 kB\nSwap: 0 kB\n")
    assert huge_page_use(rollup) == HugePages(file_pmd_mib=446.0, anon_huge_mib=4.0, rss_mib=512.0)
    rollup.write_text("Rss:  524288 kB\nAnonHugePages:  4096 kB\n")  # an older kernel: no FilePmdMapped line
    assert huge_page_use(rollup) == HugePages(anon_huge_mib=4.0, rss_mib=512.0)
    assert huge_page_use(tmp_path / "absent") is None
    rollup.write_text("Swap: 0 kB\n")
    assert huge_page_use(rollup) is None
    mine = huge_page_use()  # this process, on a Linux with smaps_rollup
    assert mine is None or (mine.rss_mib or 0) > 10, mine


def test_a_flag_carries_its_likely_causes_and_the_backends_actions():
    from benchharness.advice import advise

    cpu = advise("cpu_bound", "llamacpp")
    assert cpu is not None and "spin" in cpu.causes and "Q4_0" in cpu.actions
    assert "allow_spinning" in advise("cpu_bound", "onnxruntime").actions  # type: ignore[union-attr]
    assert "KV_CACHE_PRECISION" in advise("memory_bound", "openvino-genai").actions  # type: ignore[union-attr]
    assert "quiet machine" in advise("inconsistent", "openvino").actions  # type: ignore[union-attr]
    assert advise("made_up", "llamacpp") is None
