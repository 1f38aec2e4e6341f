"""The lab's recent history in one pass: every machine's last runs, its fingerprint and every figure's series.

The nightly digest needs every series of every machine at once. `HistoryStore.series` answers one
series a query (~7,000 queries for a 20-machine lab), so this read asks once for the runs and once
per machine for their figures, through the store's own tables; it lives beside the store, not in it,
so the store's own queries (and their indexes) stay one module's job.
"""

from __future__ import annotations

import json
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

from benchharness.errors import StoreError
from benchharness.history.store import HistoryStore, display


@dataclass(frozen=True)
class Series:
    """One figure of one case on one machine: its values in the runs' order, and when each run started."""

    machine: str
    case_key: str
    figure: str
    started: tuple[str, ...]
    values: tuple[float, ...]


@dataclass(frozen=True)
class Recent:
    """Each machine's fingerprint (from its newest run) and every series of its last runs."""

    fingerprints: dict[str, dict[str, Any]]
    series: tuple[Series, ...]


def read_recent(store: HistoryStore, last: int = 30) -> Recent:
    """Every machine's last `last` runs (oldest first, as `HistoryStore.series` orders them) and their figures."""
    import sqlalchemy as sa

    if last < 1:
        raise StoreError(f"--last {last}: needs at least one run per machine; use e.g. --last 30")
    runs, figs = store.runs, store.figures
    try:
        with store.engine.connect() as conn:
            rows = conn.execute(
                sa.select(runs.c.id, runs.c.machine_id, runs.c.started, runs.c.machine).order_by(
                    runs.c.machine_id, runs.c.started.desc(), runs.c.id.desc()
                )
            ).all()
            kept: dict[str, list[Any]] = defaultdict(list)
            for r in rows:
                if len(kept[r.machine_id]) < last:
                    kept[r.machine_id].append(r)
            fingerprints = {m: json.loads(rs[0].machine) for m, rs in kept.items()}
            series = []
            for machine, machine_runs in sorted(kept.items()):
                order = {r.id: i for i, r in enumerate(reversed(machine_runs))}
                started = [r.started for r in reversed(machine_runs)]
                points: dict[tuple[str, str], list[tuple[int, float]]] = defaultdict(list)
                query = sa.select(figs.c.run_id, figs.c.case_key, figs.c.figure, figs.c.value).where(
                    figs.c.run_id.in_(list(order))
                )
                for f in conn.execute(query):
                    points[(f.case_key, f.figure)].append((order[f.run_id], float(f.value)))
                for (case_key, figure), found in sorted(points.items()):
                    found.sort()
                    series.append(
                        Series(
                            machine,
                            case_key,
                            figure,
                            tuple(started[i] for i, _ in found),
                            tuple(v for _, v in found),
                        )
                    )
    except sa.exc.SQLAlchemyError as e:
        raise StoreError(f"history {display(store.url)} cannot be read ({store._cause(e)}); {store._fix(e)}") from None
    return Recent(fingerprints, tuple(series))
