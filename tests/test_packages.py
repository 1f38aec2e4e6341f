"""packages.installed: a runtime counts as installed under any distribution that installs its module."""

import importlib.metadata

from benchharness import packages
from benchharness.models.recipes import RECIPES


def only(installed: dict[str, str]):
    def version(name: str) -> str:
        if name in installed:
            return installed[name]
        raise importlib.metadata.PackageNotFoundError(name)

    return version


def test_the_cuda_build_of_onnxruntime_counts_as_onnxruntime(monkeypatch):
    monkeypatch.setattr(importlib.metadata, "version", only({"onnxruntime-gpu": "1.31.1", "onnx": "1.23.2"}))
    assert packages.installed("onnxruntime") == ("onnxruntime-gpu", "1.31.1")
    assert packages.installed("onnxruntime-genai") is None
    assert packages.installed("onnx") == ("onnx", "1.23.2")


def test_a_recipe_needing_onnxruntime_runs_where_only_onnxruntime_gpu_is_installed(monkeypatch):
    recipe = next(r for r in RECIPES.values() if "onnxruntime" in r.packages)
    present = {p: "1.0" for p in recipe.packages if p != "onnxruntime"} | {"onnxruntime-gpu": "1.31.1"}
    monkeypatch.setattr(importlib.metadata, "version", only(present))
    assert recipe.missing_tools() is None
    assert "onnxruntime-gpu 1.31.1" in recipe.tool_versions()  # the cache key says which build made it

    monkeypatch.setattr(
        importlib.metadata, "version", only({p: v for p, v in present.items() if p != "onnxruntime-gpu"})
    )
    assert (
        recipe.missing_tools() == f"recipe {recipe.name} needs onnxruntime (pip install 'benchharness[{recipe.extra}]')"
    )
