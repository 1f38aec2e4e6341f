"""The extension point for accuracy tasks of one-call models (encoders, classifiers).

A task supplies the timing batches (so every backend times the same inputs) and scores a model,
writing the reference variant's outputs once so the other variants can report their fidelity to it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol, TypeVar

import numpy as np
import numpy.typing as npt

from benchharness.backends.base import TensorModel
from benchharness.readings import Reading

Feeds = dict[str, npt.NDArray[np.generic]]
Outputs = TypeVar("Outputs", bound=npt.NDArray[Any])


class TensorTask(Protocol):
    def timing_feeds(self, model: TensorModel, batch_size: int) -> Feeds:
        """Inputs for one timed call at `batch_size` (the same for every variant and backend)."""
        ...

    def evaluate(
        self, model: TensorModel, write_reference: Path | None, read_reference: Path | None
    ) -> tuple[list[Reading], dict[str, list[float]]]:
        """Accuracy readings, and per-item samples for later paired statistics."""
        ...


class Incomparable(Exception):
    """A variant's outputs that cannot be set against its reference's; the message is the reason shown."""


def exchange_reference(
    outputs: Outputs, write_reference: Path | None, read_reference: Path | None, what: str
) -> Outputs | None:
    """Save the reference variant's outputs, or load them for a variant to compare with (None: nothing to compare).

    Outputs of another shape (another embedding width, another number of classes) raise Incomparable:
    the comparison becomes unavailable with that reason, while the variant's own accuracy and its
    speed figures stand.
    """
    if write_reference is not None:
        np.save(write_reference, outputs)
    if read_reference is None:
        return None
    reference: Outputs = np.load(read_reference)
    if reference.shape != outputs.shape:
        raise Incomparable(
            f"{what} {outputs.shape} differ in shape from the reference's {reference.shape}, so they cannot be "
            "compared; check the variant was made from the same model"
        )
    return reference


def select_inputs(model: TensorModel, feeds: Feeds) -> Feeds:
    """Only the inputs the graph declares (some encoder exports drop token_type_ids)."""
    return {name: feeds[name] for name in model.input_names}
