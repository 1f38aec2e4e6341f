"""The session's cost ledger: what share of wall time is spent outside timed regions and scoring."""

from benchharness.cost import CostLedger


class FakeClock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_overhead_is_wall_time_minus_timed_and_scoring():
    clock = FakeClock()
    ledger = CostLedger(clock=clock)
    ledger.add_child(wall_s=12.0, timed_s=8.0, accuracy_s=2.0)
    ledger.add_child(wall_s=6.0, timed_s=5.0, accuracy_s=0.0)
    clock.now += 20.0
    summary = ledger.summary()
    assert summary == {
        "wall_s": 20.0,
        "timed_s": 13.0,
        "accuracy_s": 2.0,
        "other_s": 5.0,
        "other_share": 0.25,
        "children": 2,
        "children_s": 18.0,
    }
    assert "5.00 s elsewhere (25%: 2 child starts" in ledger.line()


def test_an_empty_session_reports_no_share():
    ledger = CostLedger(clock=FakeClock())
    assert ledger.summary()["other_share"] == 0.0


def test_sub_second_costs_keep_their_digits_in_the_line_and_the_stored_summary():
    """A newcomer's finding: the digits project's line read "0 s in timed regions" (':.0f', and round(x, 1) stored
    0.0), as if nothing had been timed."""
    clock = FakeClock()
    ledger = CostLedger(clock=clock)
    ledger.add_child(wall_s=1.5, timed_s=0.0412, accuracy_s=0.00734)
    clock.now += 2.346
    summary = ledger.summary()
    assert (summary["timed_s"], summary["accuracy_s"], summary["wall_s"]) == (0.0412, 0.00734, 2.35)
    line = ledger.line()
    assert "2.35 s wall; 0.0412 s in timed regions, 0.00734 s scoring accuracy, 2.30 s elsewhere" in line, line
