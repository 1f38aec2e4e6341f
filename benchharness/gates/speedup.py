"""speedup: variant speed / reference speed, from interleaved A-B-B-A pairs of timed children."""

from __future__ import annotations

from dataclasses import dataclass, replace

from benchharness import stats
from benchharness.gates.base import SHORT_NAMES, Gate, GateEvidence, unavailable
from benchharness.gates.rule import GateRule
from benchharness.meters.guards import throttled
from benchharness.readings import metric_spec
from benchharness.verdicts import Verdict


def _throttle_reason(e: GateEvidence) -> str | None:
    for m in (*e.variant, *e.reference):
        if m.info.throttled:
            return m.info.throttled
    for p in e.pairs:
        if reason := throttled(p.guard_start, p.guard_end):
            return reason
    return None


@dataclass(frozen=True)
class Speedup(Gate):
    """The ratio of the kind's paired speed figure, with an interval over the pairs; throttling makes a
    failure inconclusive, since a throttled machine's speed says nothing about the variant."""

    name = "speedup"
    description = "how many times faster the variant runs than its reference, from interleaved timed pairs"
    default_minimum = 2.0
    upper_bound = 1000.0
    paired = True
    unit = "x"
    fmt = ".2f"
    column = "speedup"
    axis_label = "speedup vs reference (x)"
    display_rank = 0

    def judge(self, rule: GateRule, evidence: GateEvidence, confidence: float) -> Verdict:
        e = evidence
        metric = self.judged_figure(rule, e)
        if not e.pairs:
            return unavailable(rule, metric, "no paired trials were run against the reference")
        v = [x for p in e.pairs for x in p.variant]
        r = [x for p in e.pairs for x in p.reference]
        try:
            interval = stats.ratio_interval(v, r, confidence, children=[len(p.variant) for p in e.pairs])
        except ValueError as err:
            return unavailable(rule, metric, str(err))
        unit = spec.unit if (spec := metric_spec(metric)) else ""
        verdict = self.verdict(rule, interval, "pairs", e)
        v_mid, r_mid = stats.summarize(v).median, stats.summarize(r).median
        detail = f"; {SHORT_NAMES.get(metric, metric)} {v_mid:.1f} vs reference {e.reference_label} {r_mid:.1f} {unit} (medians of the pairs)"
        verdict = replace(verdict, message=verdict.message + detail)
        reason = _throttle_reason(e)
        if reason and verdict.status != "pass":
            return replace(verdict, status="inconclusive", message=verdict.message + f"; throttled: {reason}")
        return verdict
