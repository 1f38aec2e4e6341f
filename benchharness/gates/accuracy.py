"""accuracy_retained: the share of the reference's accuracy a variant keeps, item by item."""

from __future__ import annotations

from dataclasses import dataclass, replace

from benchharness import stats
from benchharness.gates.base import SHORT_NAMES, Gate, GateEvidence, unavailable, why_missing
from benchharness.gates.rule import GateRule
from benchharness.verdicts import Verdict


def _answers_keys() -> tuple[str, str]:
    """(metric, per-item outcomes key) of the declared-answers task.

    Imported here, not at the top: tasks.answers imports config (through evaldata), and config imports the
    gates for the policy's vocabulary, so a top-level import would be a cycle.
    """
    from benchharness.tasks.answers import METRIC, OUTCOMES

    return METRIC, OUTCOMES


@dataclass(frozen=True)
class AccuracyRetained(Gate):
    """Variant accuracy / reference accuracy over the same items, with a paired interval over the items."""

    name = "accuracy_retained"
    description = "the share of the reference's accuracy the variant keeps on the same items"
    default_minimum = 0.95
    upper_bound = 1.0
    confirmable = False  # deterministic: a re-run scores the same items the same way
    fmt = ".1%"
    column = "acc kept"
    axis_label = "accuracy retained"
    display_rank = 1

    def judged_figure(self, rule: GateRule, evidence: GateEvidence) -> str:
        return self.accuracy_figure(evidence)[0]

    def accuracy_figure(self, e: GateEvidence) -> tuple[str, str]:
        """(metric, per-item outcomes key) the gate judges.

        The kind's own figure, except where the team declared prompts with expected answers: then their
        downstream task (exact match by greedy generation) is what a variant must keep, not next-token top-1.
        """
        answers_metric, answers_outcomes = _answers_keys()
        if any(answers_outcomes in m.round_samples for m in (*e.variant, *e.reference)):
            return answers_metric, answers_outcomes
        return self.figure(e.kind), e.kind.per_item_outcomes

    def judge(self, rule: GateRule, evidence: GateEvidence, confidence: float) -> Verdict:
        e = evidence
        metric, outcomes = self.accuracy_figure(e)
        v_items = next((m.round_samples.get(outcomes) for m in e.variant if m.info.accuracy_scored), None)
        r_items = next(
            (m.round_samples.get(outcomes) for m in e.reference if m.info.accuracy_scored),
            None,
        )
        if not v_items or not r_items:
            side = e.variant if not v_items else e.reference
            return unavailable(rule, metric, why_missing(side, metric))
        try:
            interval = stats.retention_interval(v_items, r_items, confidence)
        except ValueError as err:
            return unavailable(rule, metric, str(err))
        v_value, r_value = sum(v_items) / len(v_items), sum(r_items) / len(r_items)
        name = SHORT_NAMES.get(metric, metric)
        verdict = self.verdict(rule, interval, "items", e)
        detail = f"; {name} {v_value:.2%} vs reference {e.reference_label} {r_value:.2%}"
        return replace(verdict, message=verdict.message + detail)
