"""Classification: the team's labelled items, or by default scikit-learn's bundled digits on a held-out split.

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
from benchharness.evaldata import EvalData, read_labelled
from benchharness.formats import FORMATS
from benchharness.readings import Reading
from benchharness.tasks.base import Feeds, Incomparable, exchange_reference

SOURCE = "scikit-learn digits (UCI handwritten digits), held-out 25%"
DIGITS_IO = (64, 10)  # the built-in MLP's input width (8 x 8 pixels) and classes (digits 0-9)


def onnx_io(path: Path) -> tuple[int | None, int | None]:
    """An ONNX classifier's input width and class count off its graph (None where a dimension is not fixed)."""
    import onnx

    graph = onnx.load(str(path), load_external_data=False).graph

    def last(values: Any) -> int | None:
        if len(values) != 1:
            return None
        dims = values[0].type.tensor_type.shape.dim
        return int(dims[-1].dim_value) if dims and dims[-1].HasField("dim_value") else None

    initializers = {i.name for i in graph.initializer}
    outputs = [o for o in graph.output if o.name == "probabilities"] or list(graph.output[:1])
    return last([i for i in graph.input if i.name not in initializers]), last(outputs)


def classifier_io(builtin: bool, reference: Path | None) -> tuple[int | None, int | None]:
    """What the model takes and tells apart, for checking the team's labelled data at start-up.

    The built-in MLP's is the digits' shape; a declared ONNX file's is read off its graph; otherwise
    (a variant still to be made) unknown, and the child checks the items against the loaded model.
    """
    if builtin:
        return DIGITS_IO
    if reference is not None and reference.suffix in FORMATS["onnx"].suffixes and reference.is_file():
        return onnx_io(reference)
    return None, None


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


def user_examples(data: EvalData) -> tuple[npt.NDArray[np.float32], npt.NDArray[np.int64]]:
    """The team's labelled items (the file re-checked against its start-up hash)."""
    assert data.classification is not None
    labelled = read_labelled(data.classification)
    return np.asarray(labelled.features, dtype=np.float32), np.asarray(labelled.labels, dtype=np.int64)


class ClassificationTask:
    """Held-out digits, or `[models.NAME.data] classification` (a CSV or JSONL of features and labels)."""

    def __init__(self, variant: Path, data: EvalData) -> None:
        if data.classification is not None:
            self.x_test, self.y_test = user_examples(data)
            self.source = data.classification.describe()
            self.where = f"data.classification = '{data.classification.path}'"
        else:
            _, self.x_test, _, self.y_test = digits_split()
            self.source = SOURCE
            self.where = "the digits split"

    def _feeds(self, model: TensorModel, rows: npt.NDArray[np.float32]) -> Feeds:
        """The features under the model's one input (the built-in MLP calls it 'pixels', a team's model its own)."""
        if len(model.input_names) != 1:
            raise CaseFailed(
                f"the classifier has inputs {', '.join(model.input_names)}; a classifier takes one input of features"
            )
        return {model.input_names[0]: rows}

    def _run(self, model: TensorModel, rows: npt.NDArray[np.float32]) -> dict[str, npt.NDArray[np.float32]]:
        try:
            return model.run(self._feeds(model, rows))
        except CaseFailed:
            raise
        except Exception as e:  # the runtime's own words on a width the graph does not take
            reason = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
            raise CaseFailed(
                f"{self.where}: the classifier refused items of {rows.shape[1]} features ({reason}); "
                "give every item the model's input width"
            ) from None

    def timing_feeds(self, model: TensorModel, batch_size: int) -> Feeds:
        self._run(model, self.x_test[:1])  # items the model cannot take: one line, before anything is timed
        rows = np.resize(np.arange(len(self.x_test)), batch_size)
        return self._feeds(model, self.x_test[rows])

    def evaluate(
        self, model: TensorModel, write_reference: Path | None, read_reference: Path | None
    ) -> tuple[list[Reading], dict[str, list[float]]]:
        outputs = self._run(model, self.x_test)
        probabilities = np.asarray(outputs.get("probabilities", next(iter(outputs.values()))), np.float32)
        if probabilities.ndim != 2 or len(probabilities) != len(self.x_test) or not np.isfinite(probabilities).all():
            raise CaseFailed(
                f"classifier output has shape {probabilities.shape} or non-finite values; "
                f"expected ({len(self.x_test)}, classes) scores"
            )
        classes = probabilities.shape[1]
        if (beyond := int(self.y_test.max())) >= classes:
            line = int(np.argmax(self.y_test >= classes)) + 1
            raise CaseFailed(
                f"{self.where} item {line} has label {beyond}, but the model has {classes} classes (0..{classes - 1}); "
                "fix the labels or the model"
            )
        predicted = probabilities.argmax(axis=1)
        correct = predicted == self.y_test
        n = len(correct)
        readings = [Reading("heldout_accuracy", "fraction", float(correct.mean()), None, n, self.source)]
        why = "this is the reference variant (agreement is measured against it)"
        try:
            reference = exchange_reference(predicted, write_reference, read_reference, "predictions")
        except Incomparable as e:
            reference, why = None, str(e)
        if reference is None:
            readings.append(Reading.unavailable("same_prediction_vs_reference", "fraction", why))
        else:
            same = predicted == reference
            readings.append(
                Reading("same_prediction_vs_reference", "fraction", float(same.mean()), None, n, self.source)
            )
        return readings, {"correct_per_item": [float(c) for c in correct]}
