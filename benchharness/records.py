"""The run's case records: one CaseRecord per case, built as it runs, and the bookkeeping of references
measured for others.

A CaseRecord is the session's builder, mutable while its case runs; what every report reads is its
`result()`, the CaseResult the results file holds, read back.

A reference is measured first for each of its variants' gates, even when the filters (`-k`, `--variant`)
deselected it; its record then says it was measured only as that yardstick, and for which variants. That
bookkeeping is here, so the session's loop stays a loop.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from typing import Any

from benchharness.baseline_entry import StoredRatio
from benchharness.matrix import Case
from benchharness.protocol import PairedTiming, encode
from benchharness.readings import Measurement
from benchharness.results import CaseResult
from benchharness.settings import BaselineSettings
from benchharness.verdicts import Verdict

AS_REFERENCE = "measured as reference"  # the outcome of a deselected reference measured for its variants
_FOR = "measured as the reference of "


@dataclass
class CaseRecord:
    """What happened to one case: outcome, every child's figures, the pairs, ratios and verdicts."""

    case: Case
    outcome: str = "pending"  # passed | failed | skipped | xfailed | xpassed | error | measured as reference
    measurement: Measurement | None = None  # the first full measurement (accuracy included)
    measurements: list[Measurement] = field(default_factory=list)  # every solo child, confirmations included
    reference_measurements: list[Measurement] = field(default_factory=list)
    pairs: list[PairedTiming] = field(default_factory=list)  # paired blocks the gate was judged on
    confirm_pairs: list[PairedTiming] = field(default_factory=list)  # blocks re-measured to confirm a failure
    ratios: dict[str, float] = field(default_factory=dict)
    verdicts: list[Verdict] = field(default_factory=list)
    message: str | None = None
    log_tail: list[str] = field(default_factory=list)  # a failed child's last output lines, whole
    test_name: str = "test_generation"  # the suite's test function, for pytest-benchmark's names
    nodeid: str | None = None
    # The workload settings that define the figures (CasePlan.workload_key); `settings` in the results file.
    workload_key: dict[str, Any] = field(default_factory=dict)
    baseline_policy: BaselineSettings = field(default_factory=BaselineSettings)  # noise rule used to compare

    def stored_ratios(self) -> dict[str, StoredRatio]:
        """Gate ratios with their intervals, as a baseline keeps them."""
        return {
            v.name: StoredRatio(v.estimate, v.low, v.high, v.n or 0)
            for v in self.verdicts
            if v.check == "gate" and v.estimate is not None and v.low is not None and v.high is not None
        }

    def result(self) -> CaseResult:
        """This record as the results file keeps it, read back: the one shape every report reads."""
        return CaseResult.from_dict(json.loads(json.dumps(self.to_dict())), self.case.id)

    def to_dict(self) -> dict[str, Any]:
        m = self.measurement
        return {
            "id": self.case.id,
            "key": self.case.key,
            "suite": self.case.suite,
            "model": self.case.model,
            "variant": self.case.variant,
            "backend": self.case.backend,
            "device": self.case.device,
            "kind": self.case.kind,
            "reference": self.case.reference,
            "outcome": self.outcome,
            "message": self.message,
            "log_tail": self.log_tail,
            "readings": {} if m is None else {k: r.to_dict() for k, r in sorted(m.readings.items())},
            "info": {} if m is None else m.info.to_dict(),
            "warnings": [] if m is None else list(m.warnings),
            "round_samples": {} if m is None else m.round_samples,
            "confirmations": [c.to_dict() for c in self.measurements[1:]],
            "pairs": [encode(p) for p in self.pairs],
            "confirm_pairs": [encode(p) for p in self.confirm_pairs],
            "ratios": self.ratios,
            "verdicts": [asdict(v) for v in self.verdicts],
            "settings": self.workload_key,
            "baseline_policy": asdict(self.baseline_policy),
        }


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
