"""Meters under one protocol (meters/base.py), by name in one registry (meters/registry.py), run together
around the timed region (meters/region.py): a meter added to the registry is run, and one that raises
loses only its own figures, reported unavailable with its error."""

import threading
import time

import pytest
from child_facts import child_info

from benchharness.child_info import MemoryFacts, RegionFacts
from benchharness.meters import registry
from benchharness.meters.base import Meter, MeterCase, Metered
from benchharness.meters.energy import CpuTdpEstimate, Energy, EnergyCounter, RaplMeter, rapl_zones
from benchharness.meters.memory import current_rss
from benchharness.meters.region import RegionMeters
from benchharness.readings import Reading
from benchharness.workload import repeat

CPU_READINGS = {"cpu_utilisation", "outside_cpu_load"}
MEMORY_READINGS = {"region_peak_rss_bytes", "model_memory_bytes", "rss_anon_bytes", "rss_file_bytes"}


def rapl_energy(tmp_path, start_uj=1000):
    """A RAPL meter over a powercap tree in `tmp_path`, and the file its counter is read from."""
    zone = tmp_path / "intel-rapl:0"
    zone.mkdir(parents=True)
    (zone / "name").write_text("package-0\n")
    (zone / "energy_uj").write_text(f"{start_uj}\n")
    (zone / "max_energy_range_uj").write_text("1000000000\n")
    zones, reason = rapl_zones(tmp_path)
    assert reason is None
    return Energy(RaplMeter(zones), None), zone / "energy_uj"


def test_the_registry_names_every_meter_in_the_order_they_start():
    assert list(registry.METERS) == ["energy", "cpu", "memory", "gpu"]


@pytest.mark.parametrize("name", list(registry.METERS))
@pytest.mark.parametrize("device", ["cpu", "cuda:0"])
def test_every_registered_meter_follows_the_protocol_and_reads_what_it_declares(name, device, tmp_path):
    """Each meter, built for a CPU case and a CUDA case (NVML present or not), gives exactly the readings it declares."""
    energy, _ = rapl_energy(tmp_path)
    case = MeterCase(device, current_rss(), energy, 64, "token")
    meter_class = registry.METERS[name]
    meter = meter_class(case)
    assert isinstance(meter, Meter)
    meter.start()
    out = meter.stop()
    assert isinstance(out, Metered) and isinstance(out.info, RegionFacts)
    assert all(isinstance(r, Reading) for r in out.readings)
    assert [(r.name, r.unit) for r in out.readings] == list(meter_class.reads(case))
    assert all(r.source if r.available else r.unavailable_reason for r in out.readings)


def test_every_energy_source_has_the_one_energy_shape(tmp_path):
    energy, _ = rapl_energy(tmp_path)
    assert isinstance(energy.meter, EnergyCounter) and isinstance(CpuTdpEstimate(65.0), EnergyCounter)


def test_the_region_runs_the_registered_meters_with_the_readings_and_order_of_before():
    """The gpu figures of a CPU case are left out; the rest come gpu, memory, cpu, energy (stop order)."""
    region = RegionMeters(MeterCase("cpu", current_rss(), Energy(None, "no RAPL counters: absent"), 32, "item"))
    region.start()
    readings, info = region.stop()
    names = [r.name for r in readings]
    assert names == [
        "region_peak_rss_bytes",
        "model_memory_bytes",
        "rss_anon_bytes",
        "rss_file_bytes",
        "cpu_utilisation",
        "outside_cpu_load",
        "energy_j",
        "energy_per_item_j",
        "items_per_j",
    ]
    assert [r.unavailable_reason for r in readings[-3:]] == ["no RAPL counters: absent"] * 3
    written = set(child_info(cpu=info.cpu, memory=info.memory).to_dict()) - set(child_info().to_dict())
    assert written == {"cpu_per_core", "memory_available_bytes", "rss_before_load_bytes"}


def test_energy_is_the_runs_inside_the_region_only(tmp_path):
    """The round loop reads the counter around each run; the energy meter keeps the runs between its start and stop."""
    energy, counter_file = rapl_energy(tmp_path)
    counter = energy.round_meter
    assert counter is not None
    uj = iter(range(2000, 10**9, 1000))  # every read of the counter: 1 mJ later than the one before

    def run():
        counter_file.write_text(f"{next(uj)}\n")

    counter.start()
    run()
    counter.stop()  # a run before the region (1 mJ): not the region's
    region = RegionMeters(MeterCase("cpu", current_rss(), energy, 4, "token"), {"energy": registry.METERS["energy"]})
    region.start()

    class Workload:
        warmup_rounds, min_rounds, max_rounds, min_time_s = 0, 3, 3, 0.0

    def two_steps():  # each timed run moves the counter twice: 2 mJ a run
        run()
        run()

    repeat(two_steps, Workload(), counter)
    readings = {r.name: r for r in region.stop().readings}
    assert counter.taken == [0.001, 0.002, 0.002, 0.002]
    assert readings["energy_j"].value == pytest.approx(0.002) and readings["energy_j"].n == 3
    assert readings["energy_per_token_j"].value == pytest.approx(0.0005)
    assert readings["energy_j"].source.startswith("RAPL intel-rapl:0:package-0")


class StepsMeter:
    """A meter a test adds: how many times its start was called, and a figure of its own."""

    @classmethod
    def reads(cls, case):
        return (("test_steps", "count"),)

    def __init__(self, case):
        self.case = case

    def start(self):
        self.started = time.perf_counter()

    def stop(self):
        facts = RegionFacts(memory=MemoryFacts(self.case.per_run))
        return Metered([Reading("test_steps", "count", 1.0, source="a test's meter")], facts)


def test_a_meter_added_to_the_registry_is_run_with_the_others(monkeypatch):
    monkeypatch.setitem(registry.METERS, "steps", StepsMeter)
    region = RegionMeters(MeterCase("cpu", current_rss(), None, 1, "item"))
    region.start()
    readings, info = region.stop()
    by_name = {r.name: r for r in readings}
    assert by_name["test_steps"].value == 1.0
    # what each meter adds to the reply is kept; where two give the same facts, the later stopped wins (memory's)
    assert info.memory == MemoryFacts(region.case.rss_before_load) and info.cpu is not None
    alone = RegionMeters(MeterCase("cpu", current_rss(), None, 3, "item"), {"steps": StepsMeter})
    alone.start()
    assert alone.stop().info == RegionFacts(memory=MemoryFacts(3.0))
    assert set(by_name) >= CPU_READINGS | MEMORY_READINGS
    assert readings[0].name == "test_steps"  # the last registered stops first


class Broken(StepsMeter):
    """Raises where the test says: being built, started or stopped."""

    fails_in = ""

    def __init__(self, case):
        if self.fails_in == "init":
            raise OSError("counter file vanished")
        super().__init__(case)

    def start(self):
        if self.fails_in == "start":
            raise PermissionError("counter readable by root only")

    def stop(self):
        if self.fails_in == "stop":
            raise ZeroDivisionError("no samples")
        return super().stop()


@pytest.mark.parametrize(
    ("fails_in", "why"),
    [
        ("init", "the broken meter could not be set up: OSError: counter file vanished"),
        ("start", "the broken meter failed to start: PermissionError: counter readable by root only"),
        ("stop", "the broken meter failed to stop: ZeroDivisionError: no samples"),
    ],
)
def test_a_meter_that_raises_is_unavailable_with_its_reason_and_the_others_are_kept(monkeypatch, fails_in, why):
    monkeypatch.setattr(Broken, "fails_in", fails_in)
    monkeypatch.setitem(registry.METERS, "broken", Broken)
    monkeypatch.setitem(registry.METERS, "steps", StepsMeter)  # registered after the broken one: stops before it
    region = RegionMeters(MeterCase("cpu", current_rss(), None, 1, "item"))
    region.start()
    time.sleep(0.1)  # a few ticks of the machine's CPU counters: the outside load is then measured
    readings, info = region.stop()
    by_name = {r.name: r for r in readings}
    broken = [r for r in readings if r.name == "test_steps" and not r.available]
    assert len(broken) == 1 and broken[0].unavailable_reason == why and broken[0].unit == "count"
    assert sum(r.available for r in readings if r.name == "test_steps") == 1  # the working meter's own reading
    assert all(by_name[name].available or name.startswith("rss_") for name in CPU_READINGS | MEMORY_READINGS)
    assert info.cpu is not None and info.memory is not None  # the working meters' facts are kept
    assert not any(t.name == "rss-sampler" for t in threading.enumerate())  # every started meter was stopped
