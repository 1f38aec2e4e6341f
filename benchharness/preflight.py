"""Settings checked against the models and this machine before any child starts measuring.

config.py checks each value on its own (types, ranges, names); what depends on the model or the
machine is checked here: a workload longer than the model's context, more threads than CPUs, a
declared model file that is not there. Each fault is one line with the value and the fix, raised
at start-up (exit 4) where the files already tell, or right after a variant is prepared where only
the prepared files do, instead of as a runtime's traceback from every case minutes later.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from pathlib import Path

from benchharness.errors import ConfigError
from benchharness.formats import format_of
from benchharness.kinds.base import ModelKind
from benchharness.models.context import ContextLength, context_length, known_context
from benchharness.models.registry import ModelDef
from benchharness.settings import AccuracySettings, ModelConfig, Workload


def check_threads(threads: int, usable: int) -> None:
    """Refuse more threads than this process has CPUs.

    Refused rather than warned about: with more threads than CPUs the figures measure the scheduler
    (llama.cpp's threads spin-wait for each other, and decode slows by several times), and they would
    be recorded in results and baselines as the model's. threads = 0 means one per usable core.
    """
    if threads > usable:
        raise ConfigError(
            f"threads = {threads} is more than the {usable} CPU(s) this process may use; "
            f"set threads to at most {usable}, or 0 for one per usable core"
        )


def declared_files(models: Iterable[ModelConfig]) -> dict[tuple[str, str, str], Path]:
    """Every file the configuration names, by (model, format, label)."""
    return {
        (model.name, format_of(source.path, source.format, f"models.{model.name}.variants.{label}"), label): source.path
        for model in models
        for label, source in model.variants.items()
        if source.path is not None
    }


def check_declared_files(model: ModelDef, fmt: str, label: str, declared: Mapping[tuple[str, str, str], Path]) -> None:
    """The files a variant is made from, where the configuration names them, exist (contents: checked when prepared).

    Only for variants a suite runs: a lab's pyproject may declare a model whose file is on the lab's
    machines only, and a run that does not use it should not stop for it.
    """
    for step_format, step_label in model.recipe_chain(fmt, label):
        path = declared.get((model.name, step_format, step_label))
        if path is not None and not path.exists():
            raise ConfigError(
                f"models.{model.name}.variants.{step_label}: {path} does not exist; fix the path "
                "(a relative path is read from the folder of the file that names it) or create the file"
            )


class ContextCheck:
    """A model's context against a suite's workload: before preparing where the source tells, else after.

    Remembers each variant's context, so a GGUF's metadata is read once per session.
    """

    def __init__(self) -> None:
        self._known: dict[tuple[str, str, str], ContextLength | None] = {}

    def before_prepare(
        self,
        where: str,
        model: ModelDef,
        kind: ModelKind,
        fmt: str,
        label: str,
        workload: Workload,
        accuracy: AccuracySettings,
    ) -> None:
        key = (model.name, fmt, label)
        if key not in self._known:
            root = model.recipe_chain(fmt, label)[0]
            root_key = (model.name, *root)
            if root_key not in self._known:
                self._known[root_key] = known_context(model, *root)
            self._known[key] = self._known[root_key]
        _check(where, self._known[key], kind, model.name, workload, accuracy)

    def tokens(self, model: str, fmt: str, label: str) -> int | None:
        """The context a variant was found to hold, where one of the checks read it (None: not known)."""
        known = self._known.get((model, fmt, label))
        return None if known is None else known.tokens

    def after_prepare(
        self,
        where: str,
        model: ModelDef,
        kind: ModelKind,
        fmt: str,
        label: str,
        path: Path,
        workload: Workload,
        accuracy: AccuracySettings,
    ) -> None:
        """The prepared variant's own files, for a variant whose context was not known before preparing."""
        key = (model.name, fmt, label)
        if self._known.get(key) is None:
            self._known[key] = context_length(fmt, path)
        _check(where, self._known[key], kind, model.name, workload, accuracy)


def _check(
    where: str,
    context: ContextLength | None,
    kind: ModelKind,
    model: str,
    workload: Workload,
    accuracy: AccuracySettings,
) -> None:
    if context is None:
        return
    fault = kind.context_fault(workload, accuracy, context.tokens, model)
    if fault is not None:
        raise ConfigError(f"{where} {fault} (the context as {context.source.name} declares it)")
