"""Who made a row's variant, in words: "int4-olive by Olive 0.13.0 (passes: model_builder (ModelBuilder))".

Two variants of one precision from the same checkpoint can differ only in the tool that made them
(INT4 by Olive next to INT4 by the GenAI builder); the terminal and the HTML report both say which,
from the provenance prepare recorded on the measurement (models/prepare.py, `provenance`).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Protocol

from benchharness.matrix import Case
from benchharness.models.provenance import Provenance
from benchharness.readings import Measurement


class _Row(Protocol):
    """A case with its measurement (results.CaseResult, or a figure's own row type)."""

    @property
    def case(self) -> Case: ...

    @property
    def measurement(self) -> Measurement | None: ...


def describe(provenance: Provenance | None) -> str | None:
    """'by MAKER' plus what the maker recorded (passes, workflow hash), or None for a variant not made here."""
    if provenance is None:
        return None
    maker = provenance.made_by or provenance.recipe
    text = f"by {maker}"
    details = []
    if provenance.passes:
        details.append("passes: " + ", ".join(provenance.passes))
    if provenance.command:
        details.append(provenance.command)
    elif provenance.workflow:
        details.append(f"workflow {provenance.workflow.rsplit('/', 1)[-1]}")
    if provenance.workflow_sha256:
        details.append(f"sha256 {provenance.workflow_sha256[:12]}")
    if not details and provenance.recipe != maker:  # the recipe, where it says more than the maker's name
        details.append(provenance.recipe)
    return text + (f" ({'; '.join(details)})" if details else "")


def provenance_of(record: _Row) -> Provenance | None:
    return record.measurement.info.provenance if record.measurement else None


def made_by_lines(records: Iterable[_Row]) -> list[str]:
    """One line per row whose format has variants by more than one maker (say which made which), else none."""
    rows = [(r, made) for r in records if (made := provenance_of(r)) is not None]
    makers: dict[tuple[str, str], set[str]] = {}
    for r, made in rows:
        makers.setdefault((r.case.model, r.case.format), set()).add(made.made_by)
    return [
        f"  {r.case.model} {r.case.variant} {r.case.backend}: {describe(made)}"
        for r, made in rows
        if len(makers[(r.case.model, r.case.format)]) > 1
    ]
