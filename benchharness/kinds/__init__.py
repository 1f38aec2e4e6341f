"""Model kinds by name. Adding a kind is one module and one line here."""

from __future__ import annotations

from benchharness.errors import ConfigError
from benchharness.kinds.base import ModelKind
from benchharness.kinds.causal_lm import CausalLM
from benchharness.kinds.one_call import CLASSIFIER, ENCODER

KINDS: dict[str, ModelKind] = {k.name: k for k in (CausalLM(), ENCODER, CLASSIFIER)}


def kind(name: str) -> ModelKind:
    """The kind called `name`, or a ConfigError listing the valid ones."""
    if name not in KINDS:
        raise ConfigError(f"unknown model kind {name!r}; valid: {', '.join(KINDS)}")
    return KINDS[name]
