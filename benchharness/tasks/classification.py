"""Classification of scikit-learn's bundled handwritten digits, on a held-out split.

The split is fixed (stratified, seed 0), so the classifier recipe trains on, and the static INT8
quantizer calibrates on, the same 75% everywhere, and this task scores only the other 25%.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from benchharness.backends.base import TensorModel
from benchharness.errors import CaseFailed, ModelError
from benchharness.evaldata import EvalData
from benchharness.readings import Reading
from benchharness.tasks.base import Feeds, Incomparable, exchange_reference, select_inputs

SOURCE = "scikit-learn digits (UCI handwritten digits), held-out 25%"


def digits_split() -> tuple[npt.NDArray[np.float32], npt.NDArray[np.float32], npt.NDArray[Any], npt.NDArray[Any]]:
    """(x_train, x_test, y_train, y_test), pixels scaled to 0..1."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    data = load_digits()
    pixels = (data.data / 16.0).astype(np.float32)
    if len(pixels) == 0:
        raise ModelError("scikit-learn's digits data set is empty; reinstall scikit-learn")
    x_train, x_test, y_train, y_test = train_test_split(
        pixels, data.target, test_size=0.25, random_state=0, stratify=data.target
    )
    return x_train, x_test, y_train, y_test


class ClassificationTask:
    def __init__(self, variant: Path, data: EvalData) -> None:  # scored on the digits split only
        _, self.x_test, _, self.y_test = digits_split()

    def timing_feeds(self, model: TensorModel, batch_size: int) -> Feeds:
        rows = np.resize(np.arange(len(self.x_test)), batch_size)
        return select_inputs(model, {"pixels": self.x_test[rows]})

    def evaluate(
        self, model: TensorModel, write_reference: Path | None, read_reference: Path | None
    ) -> tuple[list[Reading], dict[str, list[float]]]:
        outputs = model.run(select_inputs(model, {"pixels": self.x_test}))
        probabilities = np.asarray(outputs.get("probabilities", next(iter(outputs.values()))), np.float32)
        if probabilities.shape != (len(self.x_test), 10) or not np.isfinite(probabilities).all():
            raise CaseFailed(
                f"classifier output has shape {probabilities.shape} or non-finite values; expected (n, 10) probabilities"
            )
        predicted = probabilities.argmax(axis=1)
        correct = predicted == self.y_test
        n = len(correct)
        readings = [Reading("heldout_accuracy", "fraction", float(correct.mean()), 0.0, n, SOURCE)]
        why = "this is the reference variant (agreement is measured against it)"
        try:
            reference = exchange_reference(predicted, write_reference, read_reference, "predictions")
        except Incomparable as e:
            reference, why = None, str(e)
        if reference is None:
            readings.append(Reading.unavailable("same_prediction_vs_reference", "fraction", why))
        else:
            same = predicted == reference
            readings.append(Reading("same_prediction_vs_reference", "fraction", float(same.mean()), 0.0, n, SOURCE))
        return readings, {"correct_per_item": [float(c) for c in correct]}
