from benchharness.meters.energy import RaplMeter, energy_meter, rapl_package_zones
from benchharness.meters.memory import peak_rss


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
