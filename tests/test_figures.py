"""The report's figures: the gate panels' layout (one row per variant, shared by every panel)."""

from __future__ import annotations

from run_documents import case, run

from benchharness.report import figures
from benchharness.results import RunResult

PASS = {"speedup": ("pass", 2.6, 2.5, 2.7), "accuracy_retained": ("pass", 0.99, 0.97, 1.0)}


def test_gate_panels_share_one_row_per_variant():
    """A gate that judged one variant draws one row's bar, not a bar across its whole panel."""
    only_retained = {"accuracy_retained": PASS["accuracy_retained"]}
    cases = [case("q8_0", 120.0, gates=PASS), case("q4_1", 110.0, gates=only_retained)]
    cases.append(case("q4_0", 160.0, gates=only_retained))
    measured = RunResult.from_dict(run(cases), "r.json").cases
    layout = figures.gate_panels(measured)
    assert layout.variants == ("q8_0 llamacpp", "q4_1 llamacpp", "q4_0 llamacpp")
    panels = dict(layout.panels)
    assert [b is not None for b in panels["speedup"]] == [True, False, False]
    assert [b.label if b else None for b in panels["accuracy_retained"]] == list(layout.variants)
    fig = figures.draw_gates(layout, "llm")
    for ax in fig.axes:
        assert ax.get_ylim() == (2.5, -0.5)  # three rows in every panel
        bars = [p for p in ax.patches if p.get_height() > 0]
        assert bars and all(abs(p.get_height() - 0.6) < 1e-9 for p in bars)
    speedup_ax = fig.axes[0]
    (bar,) = [p for p in speedup_ax.patches if p.get_height() > 0]
    assert abs(bar.get_y() + 0.3) < 1e-9  # the first row (y = 0), a fifth of the panel's height
