"""The registered meters (meters/registry.py) run together around a case's timed region.

Started in the registry's order before the timed rounds and stopped in reverse after them; each gives
its Readings (value, unit and source, or unavailable with the reason) and what it adds to the case's
info. A meter that raises, being built, started or stopped, loses only its own figures: they are
reported unavailable with its error, and every other meter's readings are kept.
"""

from __future__ import annotations

from collections.abc import Mapping

from benchharness.child_info import RegionFacts
from benchharness.meters import registry
from benchharness.meters.base import Meter, MeterCase, MeterClass, Metered, unavailable
from benchharness.meters.gpu import gpu_meter as gpu_meter  # the name tests and callers knew it by, here
from benchharness.readings import Reading


class RegionMeters:
    """The registered meters of one case, started together and stopped in reverse."""

    def __init__(self, case: MeterCase, meters: Mapping[str, MeterClass] | None = None) -> None:
        self.case = case
        self.classes = dict(registry.METERS if meters is None else meters)
        self.running: dict[str, Meter] = {}
        self.failed: dict[str, str] = {}  # meter name -> why its figures are unavailable
        for name, meter_class in self.classes.items():
            try:
                self.running[name] = meter_class(case)
            except Exception as e:  # a meter's own fault: its figures are unavailable, the others' are kept
                self.failed[name] = _why(name, "could not be set up", e)

    @classmethod
    def default(cls, rss_before_load: float | None, device: str = "cpu") -> RegionMeters:
        """Every registered meter for a case on `device`, without energy (the caller reads none)."""
        return cls(MeterCase(device=device, rss_before_load=rss_before_load))

    def start(self) -> None:
        for name, meter in list(self.running.items()):
            try:
                meter.start()
            except Exception as e:
                del self.running[name]
                self.failed[name] = _why(name, "failed to start", e)

    def stop(self) -> Metered:
        readings: list[Reading] = []
        info = RegionFacts()
        for name in reversed(self.classes):
            if name in self.running:
                try:
                    more, extra = self.running[name].stop()
                except Exception as e:
                    self.failed[name] = _why(name, "failed to stop", e)
                else:
                    readings += more
                    info = info.merged(extra)
                    continue
            readings += unavailable(self.classes[name].reads(self.case), self.failed[name])
        return Metered(readings, info)


def _why(name: str, what: str, error: Exception) -> str:
    return f"the {name} meter {what}: {type(error).__name__}: {error}"
