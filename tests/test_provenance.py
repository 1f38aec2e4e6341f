"""Who made a variant (models/provenance.py): the recipe's record read typed, a bad record named with its fix."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from benchharness.errors import ModelError
from benchharness.models.provenance import Provenance, provenance
from benchharness.models.recipes import PROVENANCE_FILE, recipe


def test_a_recipes_own_record_joins_the_recipe_and_names_the_maker(tmp_path: Path) -> None:
    """Olive's run_workflow writes made_by, its version, the passes and the workflow's hash beside the model."""
    olive = recipe("olive")
    recorded = {
        "made_by": "Olive 0.13.0",
        "olive": "0.13.0",
        "passes": ["model_builder (ModelBuilder)"],
        "command": "olive optimize --precision int4",
        "workflow_sha256": "ab" * 32,
    }
    (tmp_path / PROVENANCE_FILE).write_text(json.dumps(recorded, indent=2, sort_keys=True) + "\n")
    made = provenance(tmp_path, olive)
    assert made == Provenance(
        recipe="olive",
        made_by="Olive 0.13.0",
        tools=olive.tool_versions(),
        olive="0.13.0",
        passes=("model_builder (ModelBuilder)",),
        command="olive optimize --precision int4",
        workflow_sha256="ab" * 32,
    )
    plain = provenance(tmp_path / "absent", olive)  # nothing recorded: the recipe's three keys alone
    assert (plain.recipe, plain.made_by, plain.passes) == ("olive", olive.made_by, None)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"passes": "model_builder"}', r"provenance\.json\.passes is 'model_builder', not a list; delete .* to re-prepare"),
        ('{"made_by": "Olive", "steps": []}', r"provenance\.json\.steps is not a key this version knows"),
        ("[1, 2]", r"provenance\.json holds list, not an object; delete .* to re-prepare it$"),
        ("{not json", r"provenance\.json is not valid JSON; delete .* to re-prepare the variant$"),
    ],
)  # fmt: skip
def test_a_record_that_does_not_fit_is_one_line_naming_the_file_the_key_and_the_fix(
    tmp_path: Path, text: str, message: str
) -> None:
    (tmp_path / PROVENANCE_FILE).write_text(text)
    with pytest.raises(ModelError, match=message) as raised:
        provenance(tmp_path, recipe("olive"))
    assert "\n" not in str(raised.value)


def test_a_maker_named_as_its_recipe_is_said_once() -> None:
    """A newcomer's finding: "made by: ... by train-digits-mlp (train-digits-mlp)"; the recipe in parentheses is
    kept only where it says more than the maker's name."""
    from benchharness.report.provenance import describe

    assert describe(Provenance("train-digits-mlp", "train-digits-mlp", "scikit-learn 1.5")) == "by train-digits-mlp"
    assert describe(Provenance("ort-quantize", "ONNX Runtime 1.20", "onnxruntime 1.20")) == (
        "by ONNX Runtime 1.20 (ort-quantize)"
    )
