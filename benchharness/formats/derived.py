"""Where an artifact derived from a prepared variant lives: beside the variant's folder, never inside it.

A backend may need the variant in another shape (onnxruntime's causal LMs load a copy of the graph
whose LM head computes only the logits asked for). Such a copy is made in prepare under its own name
and manifest, so the variant itself never changes after its manifest is written: its size, content
key and check read the same on the run that made the copy and on every run after it. Both prepare
(which makes the copy) and the backend (which loads it) find it through this one function.
"""

from __future__ import annotations

from pathlib import Path


def derived_path(variant: Path, name: str) -> Path:
    """The folder of artifact `name` derived from the variant at `variant` (its sibling in the cache)."""
    return variant.with_name(f"{variant.name}.{name}")
