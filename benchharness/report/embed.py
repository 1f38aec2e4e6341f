"""The results data carried inside an HTML report, so the report file alone is enough to compare later.

The data sits in a `<script type="application/json">` block: browsers never execute it, and `</`
is written as `<\\/` (still the same JSON) so no value can close the block early.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from benchharness.errors import StoreError


def embedded_json(documents: list[dict[str, Any]], element_id: str) -> str:
    """The `<script>` data block holding `documents` (a list: one run, or one per machine)."""
    text = json.dumps(documents, sort_keys=True, allow_nan=False, separators=(",", ":")).replace("</", "<\\/")
    return f'<script type="application/json" id="{element_id}">{text}</script>'


def has_block(path: Path, element_id: str) -> bool:
    """Whether the page at `path` carries a data block `element_id` (a lab's first page carries the lab's)."""
    try:
        return f'<script type="application/json" id="{element_id}">' in path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return False  # extract_embedded says what is wrong with the file


def extract_embedded(path: Path, element_id: str) -> list[dict[str, Any]]:
    """The documents `embedded_json` wrote into the report at `path`."""
    try:
        page = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise StoreError(f"report {path} does not exist") from None
    except (OSError, UnicodeDecodeError) as e:
        raise StoreError(f"cannot read report {path} ({e})") from None
    pattern = rf'<script type="application/json" id="{re.escape(element_id)}">(.*?)</script>'
    found = re.search(pattern, page, flags=re.DOTALL)
    if found is None:
        raise StoreError(
            f"{path} carries no embedded results (no #{element_id} block); pass a report written by benchharness or a results JSON"
        )
    try:
        documents = json.loads(found.group(1))
    except json.JSONDecodeError as e:
        raise StoreError(
            f"the results embedded in {path} are not valid JSON ({e}); the file was edited or truncated"
        ) from None
    if not isinstance(documents, list) or not all(isinstance(d, dict) for d in documents):
        raise StoreError(f"the results embedded in {path} are not a list of runs; the file was edited")
    return documents
