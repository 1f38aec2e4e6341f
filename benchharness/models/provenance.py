"""Who made a prepared variant, typed: the recipe, its maker and tools, and what the recipe recorded itself.

Two variants of one precision from the same checkpoint can differ only in the tool that made them (INT4 by
Olive next to INT4 by the GenAI builder); prepare reads this once per variant, and every measurement's
reply carries it as `info.provenance` for the terminal and the HTML report (report/provenance.py).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from benchharness.errors import ModelError, ReplyError
from benchharness.models.recipes import PROVENANCE_FILE, Recipe
from benchharness.typed_json import OMITTED, read, write


@dataclass(frozen=True)
class Provenance:
    """The recipe and its maker, plus what the recipe wrote beside the model (PROVENANCE_FILE).

    The recorded keys are Olive's (models/olive_format.run_workflow): each is written only where recorded,
    so a variant made by another recipe keeps the three keys it always had.
    """

    recipe: str
    made_by: str  # "Olive 0.13.0", "the GenAI builder": the recipe's maker, or the one the recipe recorded
    tools: str  # the recipe's packages and external tool, with their versions
    olive: str | None = field(default=None, metadata=OMITTED)  # Olive's version
    passes: tuple[str, ...] | None = field(default=None, metadata=OMITTED)  # 'name (Type)' per pass, in order
    workflow: str | None = field(default=None, metadata=OMITTED)  # the team's workflow file
    command: str | None = field(default=None, metadata=OMITTED)  # or the `olive optimize` line that wrote it
    workflow_sha256: str | None = field(default=None, metadata=OMITTED)


def provenance(path: Path, how: Recipe) -> Provenance:
    """Who made the variant at `path`: the recipe, its maker and tools, plus what the recipe recorded beside
    the model (PROVENANCE_FILE, e.g. Olive's passes and workflow hash), for the row and the report.
    """
    made = Provenance(recipe=how.name, made_by=how.made_by, tools=how.tool_versions())
    recorded = path / PROVENANCE_FILE
    if not (path.is_dir() and recorded.is_file()):
        return made
    try:
        data = json.loads(recorded.read_text())
    except ValueError:
        raise ModelError(f"{recorded} is not valid JSON; delete {path} to re-prepare the variant") from None
    if not isinstance(data, dict):
        raise ModelError(f"{recorded} holds {type(data).__name__}, not an object; delete {path} to re-prepare it")
    try:  # the recipe's own record wins (Olive names itself, with its version, as the maker)
        return read(Provenance, write(made) | data, str(recorded))
    except ReplyError as e:
        raise ModelError(f"{e}; delete {path} to re-prepare the variant") from None
