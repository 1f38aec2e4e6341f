"""Settings -> CasePlan: each case's suite policy resolved once, and every name the suites use checked at start-up.

A case's gates (with `--gate` thresholds applied), workload, accuracy settings, baseline policy, limits,
known breaches and the key that defines its figures are read off its suite in one place, so the trial
runner, the baseline check and the recorder never look a suite up again and cannot disagree about it.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, replace
from typing import Any

from benchharness import kinds, preflight
from benchharness.backends.base import Backend
from benchharness.cli_options import Options
from benchharness.devices import DEVICES
from benchharness.errors import ConfigError
from benchharness.gates import GateRule, override_minimums
from benchharness.matrix import Case, check_known, check_loadable, expand, family_for, suite_names
from benchharness.models.registry import ModelDef
from benchharness.profiles import defining_workload
from benchharness.settings import AccuracySettings, BaselineSettings, Settings, SuiteConfig, Workload


@dataclass(frozen=True)
class CasePlan:
    """One case with everything its suite says about it, resolved once (Planner.plan)."""

    case: Case
    gates: tuple[GateRule, ...]  # the suite's gate rules, command-line thresholds applied
    workload: Workload
    accuracy: AccuracySettings
    baseline: BaselineSettings  # the noise rule a baseline or history comparison uses
    limits: Mapping[str, float]  # ceilings on cold-start readings, as the suite states them
    known_breaches: tuple[str, ...]  # gates the suite keeps as known breaches here (pytest xfail)
    workload_key: Mapping[str, Any] = field(default_factory=dict)  # what defines the figures, in JSON's form

    def reference(self) -> CasePlan:
        """The plan of this case's reference variant (same suite, model, backend and device)."""
        reference = replace(self.case, variant=self.case.reference, skip_reason=None)
        return replace(self, case=reference, known_breaches=())


class Planner:
    """The suites' policy per case, and the start-up checks of every name a suite or filter uses.

    Raises ConfigError (one line: the name, the valid ones) at construction for a typo in a suite's models,
    backends, variants, gate variants or known breaches, or in a `--model/--backend/--variant` filter; a typo
    there would otherwise gate nothing and every later green run would be a lie.
    """

    def __init__(
        self,
        settings: Settings,
        options: Options,
        models: Mapping[str, ModelDef],
        backends: Mapping[str, Backend],
        context: preflight.ContextCheck,
    ) -> None:
        self.settings = settings
        self.options = options
        self.models = models
        self.backends = backends
        self._context = context
        self._declared = preflight.declared_files(settings.models)
        self._plans: dict[str, CasePlan] = {}
        self._validate_filters()
        self._validate_gate_overrides()
        for suite in settings.suites.values():
            self._validate_suite(suite)
            self._validate_variants(suite)

    # -- policy -------------------------------------------------------------------------------
    def suite(self, name: str) -> SuiteConfig:
        if name in self.settings.suites:
            return self.settings.suites[name]
        raise ConfigError(
            f"suite {name!r} is not declared; add [tool.benchharness.suites.{name}] to pyproject.toml "
            f"(declared: {', '.join(self.settings.suites) or 'none'})"
        )

    def cases(self, suite_name: str) -> list[Case]:
        """The suite's cases on the selected devices, after the filters, each with its skip reason."""
        return expand(self.suite(suite_name), self.models, self.backends, self.options.devices, self.options.filters)

    def plan(self, case: Case) -> CasePlan:
        """The case's plan, resolved on first use and kept (a suite's policy does not change during a run)."""
        if case.key not in self._plans or self._plans[case.key].case != case:
            suite = self.suite(case.suite)
            gates = override_minimums(suite.gates, self.options.gate_overrides)
            known = (
                ()
                if case.is_reference
                else tuple(
                    r.name for r in gates if r.applies_to(case.variant) and r.known_breach(case.variant, case.device)
                )
            )
            workload = suite.workload or self.settings.workload
            accuracy = suite.accuracy or self.settings.accuracy
            self._plans[case.key] = CasePlan(
                case=case,
                gates=gates,
                workload=workload,
                accuracy=accuracy,
                baseline=suite.baseline or self.settings.baseline,
                limits=dict(suite.limits),
                known_breaches=known,
                workload_key=self._key(workload, accuracy, case),
            )
        return self._plans[case.key]

    def run_key(self) -> dict[str, Any]:
        """The global workload's key, as the run's header states it."""
        return self._key(self.settings.workload, self.settings.accuracy, None)

    def _key(self, workload: Workload, accuracy: AccuracySettings, case: Case | None) -> dict[str, Any]:
        # Only the listed profiles' settings define the figures (profiles.defining_workload): a suite that lists
        # none keeps the key, and the stored baselines, it had before profiles existed.
        key = {**defining_workload(asdict(workload)), **{f"accuracy_{k}": v for k, v in asdict(accuracy).items()}}
        if case is not None and (data := self.models[case.model].data.digest) != "builtin":
            key["eval_data"] = (
                data  # the team's own data define the figures: a baseline on other data is not comparable
            )
        # In JSON's own form (a tuple such as depths becomes a list), so a key read back from a stored
        # baseline compares equal to the same settings now.
        normal: dict[str, Any] = json.loads(json.dumps(key))
        return normal

    # -- start-up checks ----------------------------------------------------------------------
    def _validate_suite(self, suite: SuiteConfig) -> None:
        """Every name a suite uses must exist, checked at start-up."""
        where = f"[tool.benchharness.suites.{suite.name}]"
        check_known(f"{where} models", suite.models, list(self.models))
        check_known(f"{where} backends", suite.backends, list(self.backends))
        check_loadable(where, suite, self.models, self.backends)
        models = [self.models[m] for m in suite.models or self.models]
        labels = sorted({label for m in models for _, label in m.variants})
        check_known(f"{where} variants", suite.variants, labels)
        for rule in suite.gates:
            check_known(f"{where} gates.{rule.name}.variants", rule.variants, labels)
            check_known(
                f"{where} gates.{rule.name}.known_breaches", [k.partition("@")[0] for k in rule.known_breaches], labels
            )
            check_known(
                f"{where} gates.{rule.name}.known_breaches (after @)",
                [k.partition("@")[2] for k in rule.known_breaches if "@" in k],
                list(DEVICES),
            )

    def _validate_variants(self, suite: SuiteConfig) -> None:
        """Each variant the suite runs (and its reference): declared files exist, and the workload fits the
        context where the source tells it.

        Every variant the suite names, whether or not its runtime is installed here: a workload
        longer than the model is wrong for the model on any machine.
        """
        workload = suite.workload or self.settings.workload
        accuracy = suite.accuracy or self.settings.accuracy
        where = f"[tool.benchharness.suites.{suite.name}]"
        f = self.options.filters
        for model in (self.models[m] for m in suite.models or self.models):
            if f.models is not None and model.name not in f.models:
                continue
            for name in suite.backends or self.backends:
                fmt = family_for(model, self.backends[name])
                if fmt is None or (f.backends is not None and name not in f.backends):
                    continue
                wanted = [q for q in model.labels(fmt) if suite.variants is None or q in suite.variants]
                labels = [q for q in wanted if f.variants is None or q in f.variants]
                for label in dict.fromkeys([model.references[fmt], *labels]):
                    preflight.check_declared_files(model, fmt, label, self._declared)
                    self._context.before_prepare(where, model, kinds.kind(model.kind), fmt, label, workload, accuracy)

    def _validate_gate_overrides(self) -> None:
        """A `--gate NAME=MIN` that no suite judges would change nothing, silently: refused, naming the suites."""
        for name, minimum in self.options.gate_overrides.items():
            if not any(rule.name == name for suite in self.settings.suites.values() for rule in suite.gates):
                off = ", ".join(self.settings.suites) or "none declared"
                raise ConfigError(
                    f"--gate {name}={minimum:g} has no effect: no suite judges {name} (suites: {off}); switch it "
                    f"on in a suite's [tool.benchharness.suites.NAME.gates] table or drop the flag"
                )

    def _validate_filters(self) -> None:
        """A filter value nothing has is refused, listing the declared suites' own names first: every built-in
        variant (`4bit, 8bit, f16, ...`) hid the two a digits user could pick from."""
        f = self.options.filters
        own = [suite_names(s, self.models, self.backends) for s in self.settings.suites.values()]
        suites = ", ".join(self.settings.suites)
        all_variants = sorted({label for m in self.models.values() for _, label in m.variants})
        for option, values, every, theirs, others in (
            ("--model", f.models, list(self.models), [n.models for n in own], "models no suite here runs"),
            ("--backend", f.backends, list(self.backends), [n.backends for n in own], "backends no suite here runs"),
            ("--variant", f.variants, all_variants, [n.variants for n in own], "variants of other models"),
        ):
            mine = list(dict.fromkeys(name for names in theirs for name in names))
            if not mine:  # no suite declared: every name is as much the user's as another
                check_known(option, values, every)
                continue
            for value in values or ():
                if value not in every:
                    rest = sorted(set(every) - set(mine))
                    also = f"; {', '.join(rest)} are {others}" if rest else ""
                    raise ConfigError(
                        f"{option}: unknown value {value!r}; valid: {', '.join(mine)} "
                        f"(suite{'s' if len(own) > 1 else ''} {suites}){also}"
                    )
