import time

import psutil

from benchharness.meters.energy import RaplMeter, energy_meter, rapl_package_zones
from benchharness.meters.memory import peak_rss
from benchharness.meters.utilisation import CpuWindow, bottleneck_flags, usable_cores
from benchharness.readings import Reading


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


def test_non_cpu_devices_say_why_there_is_no_meter():
    meter, reason = energy_meter("cuda")
    assert meter is None and "cuda" in reason


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
    child_peak = float(subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout)
    assert child_peak < 300 * 2**20


def test_cpu_window_reads_this_process_busy_and_each_core():
    window = CpuWindow()
    window.start()
    deadline = time.perf_counter() + 0.3
    while time.perf_counter() < deadline:  # one busy thread
        pass
    reading, per_core = window.stop()
    cores = usable_cores()
    assert reading.unit == "fraction" and "usable cores" in reading.source
    assert 0.5 / cores < reading.value <= 1.0 / cores + 0.05
    assert len(per_core) == psutil.cpu_count() and all(0.0 <= c <= 1.0 for c in per_core)
    assert window.available_at_start > 0 and window.rss_at_start > 0


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
