"""Formats (benchharness/formats/): one object per format in one registry, below both models/ and backends/.

The import direction is read off the source (every import statement, module level or inside a
function, and every "module:function" string a registry resolves later), so a new import either
way fails here before it makes the two packages depend on each other again.
"""

from __future__ import annotations

import ast
import dataclasses
from pathlib import Path

import pytest

from benchharness.errors import ConfigError, ModelError
from benchharness.formats import FORMATS, format_of
from benchharness.formats.base import Format

PACKAGE = Path(__file__).resolve().parents[1] / "benchharness"


def _names(source: str) -> set[str]:
    """The benchharness modules a source imports (anywhere in it) or names in a string ('module:function',
    or a module prefix such as `_F = "benchharness.formats"` that recipe strings are built on)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names |= {node.module, *(f"{node.module}.{alias.name}" for alias in node.names)}
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and node.value.startswith("benchharness."):
            names.add(node.value.partition(":")[0])
    return {n for n in names if n.startswith("benchharness")}


def _imported(package: str) -> dict[str, set[str]]:
    """Each module of `package` -> the benchharness modules it imports or names."""
    return {
        str(path.relative_to(PACKAGE)): _names(path.read_text(encoding="utf-8"))
        for path in sorted((PACKAGE / package).rglob("*.py"))
    }


@pytest.mark.parametrize(
    ("package", "forbidden"),
    [("models", ("backends",)), ("backends", ("models",)), ("formats", ("models", "backends"))],
)
def test_models_and_backends_never_import_each_other_and_formats_neither(package: str, forbidden: tuple[str]) -> None:
    imports = _imported(package)
    assert imports, f"no modules read under benchharness/{package}"
    offending = {
        module: sorted(n for n in names if any(n.startswith(f"benchharness.{f}") for f in forbidden))
        for module, names in imports.items()
    }
    assert not {m: n for m, n in offending.items() if n}, f"{package}/ imports {'/'.join(forbidden)}/"


def test_the_direction_check_sees_an_import_inside_a_function_and_a_recipe_string() -> None:
    """The check above would pass vacuously if the walk missed the ways models/ reached backends/ before."""
    source = (
        "def f():\n    from benchharness.backends.onnx_last_logits import make\n"
        "R = ('benchharness.backends.onnx_last_logits:make',)\n"
        "_B = 'benchharness.backends'\n"
        "import benchharness.backends.base\n"
    )
    assert _names(source) == {
        "benchharness.backends",
        "benchharness.backends.base",
        "benchharness.backends.onnx_last_logits",
        "benchharness.backends.onnx_last_logits.make",
    }
    assert "benchharness.formats.hf" in _imported("models")["models/registry.py"]  # imported inside _from_source


def test_every_format_is_a_frozen_object_under_its_own_name() -> None:
    assert list(FORMATS) == ["gguf", "onnx", "ortgenai", "openvino", "mlx", "hf"]  # the order errors list
    for name, fmt in FORMATS.items():
        assert isinstance(fmt, Format)
        assert fmt.name == name
        assert dataclasses.is_dataclass(fmt)
        with pytest.raises(dataclasses.FrozenInstanceError):
            fmt.name = "other"  # type: ignore[misc]
    suffixes = [s for fmt in FORMATS.values() for s in fmt.suffixes]
    assert len(suffixes) == len(set(suffixes)), "two formats claim one suffix"


def test_a_declared_file_s_format_is_read_off_its_suffix_or_told() -> None:
    assert [format_of(Path(f"m{s}"), None, "w") for s in (".gguf", ".onnx", ".xml")] == ["gguf", "onnx", "openvino"]
    assert format_of(Path("folder"), "ortgenai", "w") == "ortgenai"
    with pytest.raises(ConfigError, match=r"^w: cannot tell the format of folder; add format = 'gguf' \|"):
        format_of(Path("folder"), None, "w")


@pytest.mark.parametrize(
    ("name", "inside"),
    [("onnx", "model.onnx"), ("ortgenai", "genai_config.json"), ("openvino", "openvino_model.xml"),
     ("mlx", "config.json"), ("hf", "config.json")],
)  # fmt: skip
def test_a_folder_format_checks_its_folder_holds_its_file(tmp_path: Path, name: str, inside: str) -> None:
    fmt = FORMATS[name]
    with pytest.raises(ModelError, match=f"^{name} model .*gone does not exist; fix the path in your config$"):
        fmt.check(tmp_path / "gone")
    folder = tmp_path / "m"
    folder.mkdir()
    with pytest.raises(ModelError, match=rf"is not a {name} model folder \(no {inside}\); point the config at"):
        fmt.check(folder)
    (folder / inside).write_text("{}")
    fmt.check(folder)


def test_gguf_checks_the_file_s_magic(tmp_path: Path) -> None:
    bad = tmp_path / "m.gguf"
    bad.write_bytes(b"NOPE" + bytes(20))
    with pytest.raises(ModelError, match="is not a GGUF file"):
        FORMATS["gguf"].check(bad)
    assert FORMATS["gguf"].model_file(bad) == bad


def test_each_format_finds_the_file_its_runtime_loads(tmp_path: Path) -> None:
    assert FORMATS["onnx"].model_file(tmp_path) == tmp_path / "model.onnx"
    assert FORMATS["onnx"].model_file(tmp_path / "x.onnx") == tmp_path / "x.onnx"
    assert FORMATS["ortgenai"].model_file(tmp_path) == tmp_path / "model.onnx"
    assert FORMATS["openvino"].model_file(tmp_path) == tmp_path / "openvino_model.xml"
    (tmp_path / "model.onnx").write_text("")  # an ONNX folder, which OpenVINO reads too
    assert FORMATS["openvino"].model_file(tmp_path) == tmp_path / "model.onnx"
    assert FORMATS["mlx"].model_file(tmp_path) == FORMATS["hf"].model_file(tmp_path) == tmp_path


def test_a_format_s_recipes_live_in_its_module() -> None:
    """Adding a recipe is a function in the module of the format it writes and one line in RECIPES."""
    from benchharness.models.recipes import RECIPES

    # Not a format's variants: the GGUF's tokenizer over the corpus, and a backend's derived copy of a graph.
    apart = {"corpus-tokens": "gguf", "onnx-last-logits": "onnx_last_logits"}
    for recipe in RECIPES.values():
        module = recipe.function.partition(":")[0]
        if module.startswith("benchharness.formats."):
            assert module.rsplit(".", 1)[1] == apart.get(recipe.name, recipe.writes), recipe.name
