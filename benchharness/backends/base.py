"""The one extension point for runtimes: a Backend loads a variant file into a LoadedModel.

The harness, not the backend, owns the clock: it times `prefill` and `decode` calls the same way
for every runtime, so a row of ONNX Runtime and a row of llama.cpp mean the same thing. A backend
only has to run greedy generation with a KV cache and return logits for scoring.

Backend modules import their runtime inside `load` (and `runtime_version`), so a machine without
that runtime can still import the module, list the backend, and skip its cases with the reason.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar, Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

from benchharness.devices import detect
from benchharness.gpus import split_device


@dataclass(frozen=True)
class LoadOptions:
    """Runtime settings that every backend honours."""

    threads: int
    n_ctx: int  # longest sequence the context must hold
    n_batch: int  # most tokens fed in one prefill call
    safe_mode: bool = False  # the backend's `safe_mode` path: its fast path died of SIGILL on this machine
    # Stop the runtime's worker threads busy-waiting once a run returns, where the runtime allows it: in a
    # paired child the idle side's spinning workers would take a core from the side being timed.
    stop_spinning: bool = True


@runtime_checkable
class LoadedModel(Protocol):
    """A model resident on a device, ready for greedy generation and scoring."""

    n_vocab: int

    def tokenize(self, text: str) -> list[int]:
        """Token ids for `text`, with the model's usual beginning-of-sequence handling."""
        ...

    def prefill(self, tokens: Sequence[int]) -> int:
        """Start a fresh sequence with `tokens`; return the greedy next token."""
        ...

    def decode(self, token: int) -> int:
        """Append one token to the sequence; return the greedy next token."""
        ...

    def score(self, tokens: Sequence[int], first: int) -> npt.NDArray[np.float32]:
        """Fresh sequence of `tokens`; logits at positions first..len-2, shape (len-1-first, n_vocab)."""
        ...

    def close(self) -> None:
        """Release the runtime's memory."""
        ...


@runtime_checkable
class ContextModel(Protocol):
    """A model that can start from a context already in its KV cache (llama-bench's depth, -d)."""

    def fill(self, tokens: Sequence[int]) -> None:
        """Start a fresh sequence holding `tokens` (untimed set-up for a depth)."""
        ...

    def extend(self, tokens: Sequence[int]) -> int:
        """Append `tokens` to the sequence (a prefill at the current depth); return the greedy next token."""
        ...


@runtime_checkable
class SelfTimedModel(Protocol):
    """A deployment pipeline that runs a whole generation itself and times it (OpenVINO GenAI).

    Such a pipeline cannot be stepped token by token from outside, so the round's timings come
    from the pipeline's own performance metrics, which are what its users read: the time to the
    first token and the time of every later token.
    """

    def timed_generation(
        self, prompt: Sequence[int], gen_tokens: int
    ) -> tuple[float, tuple[float, ...], tuple[int, ...]]:
        """Prefill `prompt`, then `gen_tokens` greedy steps: (seconds to first token, seconds per later step,
        the gen_tokens + 1 token ids generated)."""
        ...


@runtime_checkable
class TensorModel(Protocol):
    """A model that maps named input arrays to named outputs in one call (encoders, classifiers)."""

    input_names: tuple[str, ...]

    def run(self, feeds: Mapping[str, npt.NDArray[np.generic]]) -> dict[str, npt.NDArray[np.float32]]:
        """Outputs by name for one batch; `feeds` holds exactly `input_names`."""
        ...

    def close(self) -> None:
        """Release the runtime's memory."""
        ...


class Backend:
    """Base class for runtimes; subclasses set the class attributes and implement `load`."""

    name: ClassVar[str]
    runtime_module: ClassVar[str]  # import name, checked with find_spec (not the distribution name)
    extra: ClassVar[str]  # pip extra that installs the runtime
    formats: ClassVar[tuple[str, ...]]  # variant formats it loads, preferred first
    kinds: ClassVar[frozenset[str]] = frozenset({"causal-lm"})  # model kinds it can run
    devices: ClassVar[tuple[str, ...]]  # device kinds it can target at all
    # What the backend turns off in safe mode (LoadOptions.safe_mode), retried after its child died of an
    # illegal instruction; None where it has no slower path to fall back to.
    safe_mode: ClassVar[str | None] = None
    # How to reinstall the runtime for any CPU, the fix named when it dies of an illegal instruction.
    portable_install: ClassVar[str | None] = None

    def unavailable_reason(self, device: str) -> str | None:
        """Why this backend cannot run on `device` (a kind, or `cuda:N`) here, or None. Cheap: no model loads."""
        kind, _ = split_device(device)
        if kind not in self.devices:
            return f"{self.name} does not target device {kind!r} (it targets {', '.join(self.devices)})"
        if importlib.util.find_spec(self.runtime_module) is None:
            return f"{self.name}: runtime module {self.runtime_module!r} not installed (pip install 'benchharness[{self.extra}]')"
        status = detect(device)
        if not status.present:
            return f"device {device} absent: {status.detail}"
        return self.device_support_reason(kind)

    def device_support_reason(self, kind: str) -> str | None:
        """Hook for builds that lack a device kind (e.g. a CPU-only wheel on a CUDA machine)."""
        return None

    def runtime_version(self) -> str:
        raise NotImplementedError

    def load(self, path: Path, device: str, options: LoadOptions) -> LoadedModel:
        """A causal language model ready for greedy generation (kind 'causal-lm')."""
        raise NotImplementedError

    def load_tensor_model(self, path: Path, device: str, options: LoadOptions) -> TensorModel:
        """An encoder or classifier (kinds 'encoder' and 'classifier')."""
        raise NotImplementedError(f"{self.name} runs only {', '.join(sorted(self.kinds))} models")
