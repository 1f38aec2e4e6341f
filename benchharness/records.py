"""The run's case records: one CaseRecord per case, and the bookkeeping of references measured for others.

A reference is measured first for each of its variants' gates, even when the filters (`-k`, `--variant`)
deselected it; its record then says it was measured only as that yardstick, and for which variants. That
bookkeeping is here, so the session's loop stays a loop.
"""

from __future__ import annotations

from benchharness.matrix import Case
from benchharness.readings import Measurement
from benchharness.results import CaseRecord

AS_REFERENCE = "measured as reference"  # the outcome of a deselected reference measured for its variants
_FOR = "measured as the reference of "


class Records(dict[str, CaseRecord]):
    """Case key -> its record, in the order pytest ran them (the results file keeps that order)."""

    def of(self, case: Case) -> CaseRecord:
        """The case's record, made on first use."""
        return self.setdefault(case.key, CaseRecord(case))

    def reference_measured(self, reference: Case, variant: Case, measurement: Measurement) -> None:
        """Keep `measurement` on the reference's record (if it has none), noting each variant it was measured for."""
        record = self.of(reference)
        if record.measurement is None:  # deselected: measured only as the gates' yardstick
            record.measurement = measurement
            record.outcome = AS_REFERENCE
            record.message = f"{_FOR}{variant.variant}"
        elif record.outcome == AS_REFERENCE:
            named = (record.message or "").removeprefix(_FOR).split(", ")
            if variant.variant not in named:
                record.message = f"{record.message}, {variant.variant}"
        if not record.measurements:
            record.measurements.append(measurement)

    def reference_measurement(self, case: Case) -> Measurement | None:
        """The first measurement this run of the case's reference (how far the machine moved), None for a reference."""
        if case.is_reference:
            return None
        record = self.get(case.reference_key)
        return None if record is None else record.measurement

    def anything_to_write(self) -> bool:
        """Whether any case measured something or failed: a run that did neither writes no files."""
        return any(r.measurement is not None or r.outcome in ("failed", "error") for r in self.values())
