"""packages.installed: a runtime counts as installed under any of its builds, and names the one imported."""

import sys

from benchharness import packages
from benchharness.models.recipes import RECIPES


def site(folder, distribution, version, module=None):
    """A real sys.path folder holding a distribution's metadata (and its module, if named)."""
    info = folder / f"{distribution.replace('-', '_')}-{version}.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {distribution}\nVersion: {version}\n")
    if module:
        (folder / module).mkdir()
        (folder / module / "__init__.py").write_text("")
    return folder


def test_the_build_that_import_loads_is_named_where_two_are_installed(tmp_path, monkeypatch):
    # The lent GPU machine's case: its venv holds onnxruntime (CPU), the payload on PYTHONPATH onnxruntime-gpu.
    cuda = site(tmp_path / "payload", "onnxruntime-gpu", "1.31.1", module="onnxruntime")
    cpu = site(tmp_path / "venv", "onnxruntime", "1.30.0", module="onnxruntime")
    monkeypatch.delitem(sys.modules, "onnxruntime", raising=False)
    monkeypatch.setattr(sys, "path", [str(cuda), str(cpu), *sys.path])
    assert packages.installed("onnxruntime") == ("onnxruntime-gpu", "1.31.1")
    monkeypatch.setattr(sys, "path", [str(cpu), str(cuda), *sys.path])
    assert packages.installed("onnxruntime") == ("onnxruntime", "1.30.0")


def test_a_cuda_build_alone_counts_and_an_absent_runtime_is_none(tmp_path, monkeypatch):
    only = site(tmp_path / "site", "onnxruntime-genai-cuda", "0.15.2", module="onnxruntime_genai")
    monkeypatch.delitem(sys.modules, "onnxruntime_genai", raising=False)
    monkeypatch.setattr(sys, "path", [str(only)])
    assert packages.installed("onnxruntime-genai") == ("onnxruntime-genai-cuda", "0.15.2")
    assert packages.installed("onnxruntime") is None
    assert packages.installed("no-such-package-here") is None


def test_a_recipe_needing_onnxruntime_runs_where_only_onnxruntime_gpu_is_installed(tmp_path, monkeypatch):
    recipe = next(r for r in RECIPES.values() if "onnxruntime" in r.packages)
    folder = tmp_path / "site"
    for package in recipe.packages:
        site(folder, "onnxruntime-gpu" if package == "onnxruntime" else package, "1.31.1")
    monkeypatch.setattr(sys, "path", [str(folder)])
    assert recipe.missing_tools() is None
    assert "onnxruntime-gpu 1.31.1" in recipe.tool_versions()  # the cache key says which build made it

    for info in folder.glob("onnxruntime_gpu-*"):
        (info / "METADATA").unlink()
        info.rmdir()
    assert (
        recipe.missing_tools() == f"recipe {recipe.name} needs onnxruntime (pip install 'benchharness[{recipe.extra}]')"
    )
