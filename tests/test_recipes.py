"""Recipes declared once: their parameters, formats and the README's table cannot drift apart.

The fast tests read the declarations (models/recipes.py, models/recipe_params.py) the way the
registry and the child read them; tests/test_declared_recipes.py tries declarations from outside.
"""

from __future__ import annotations

import inspect
import json
import re
from pathlib import Path

import pytest

from benchharness.config import parse_settings
from benchharness.errors import ConfigError, PrepareError
from benchharness.models.recipes import RECIPES, markdown_table
from benchharness.models.registry import ModelDef, build_registry, builtin_models

README = Path(__file__).resolve().parents[1] / "README.md"


def test_the_readme_table_is_the_declarations_table() -> None:
    text = README.read_text()
    match = re.search(r"<!-- recipes:begin -->\n(.*?)\n<!-- recipes:end -->", text, re.S)
    assert match, "README.md lost its <!-- recipes:begin --> ... <!-- recipes:end --> table"
    assert match.group(1) == markdown_table(), (
        "README's recipe table differs from the declarations; paste "
        "`python -c 'from benchharness.models.recipes import markdown_table; print(markdown_table())'`"
    )
    for recipe in RECIPES.values():
        assert (f"`{recipe.name}`" in match.group(1)) == recipe.declarable, recipe.name


def test_each_recipe_function_reads_only_what_its_recipe_declares() -> None:
    """A parameter read under another name than declared would always be None (or a KeyError in the child)."""
    for recipe in RECIPES.values():
        source = inspect.getsource(recipe.load())
        read = set(re.findall(r"params(?:\[|\.get\()\s*[\"'](\w+)[\"']", source))
        read |= {name for group in re.findall(r"params\[k\] for k in \(([^)]*)\)", source) for name in
                 re.findall(r"[\"'](\w+)[\"']", group)}  # fmt: skip
        declared = {p.name for p in recipe.params}
        assert read <= declared, (recipe.name, read - declared)
        assert recipe.writes, recipe.name
        assert recipe.reads is not None or not recipe.declarable, recipe.name


def _recipe_variants(model: ModelDef) -> list[tuple[str, tuple[tuple[str, str], ...]]]:
    found = [(str(v.recipe), v.params) for v in model.variants.values() if v.recipe]
    return found + ([(str(model.corpus_tokens.recipe), model.corpus_tokens.params)] if model.corpus_tokens else [])


def test_every_builtin_variant_is_made_with_parameters_its_recipe_declares() -> None:
    for model in builtin_models().values():
        for name, params in _recipe_variants(model):
            RECIPES[name].values(dict(params), model.kind)  # raises on an undeclared or refused value
            for key, base in model.variants.items():
                if base.recipe == name and base.base is not None:
                    assert base.base[0] == RECIPES[name].reads and key[0] == RECIPES[name].writes, (name, key)


def declare(variants: dict[str, object], model: str = "smollm2-135m") -> ModelDef:
    return build_registry(parse_settings({"models": {model: {"variants": variants}}}, Path(".")).models)[model]


def test_the_issue_examples_declare_what_the_builtins_would() -> None:
    model = declare(
        {
            "int4g": {"recipe": "nncf-weight-compression", "from": "fp32", "mode": "int4_asym", "group_size": 128,
                      "ratio": 0.8},
            "int4s": {"recipe": "nncf", "mode": "int4_sym"},
            "q4km": {"quantize": "q4_k_m"},
            "gi4": {"recipe": "ort-genai-builder", "precision": "int4"},
            "m4": {"recipe": "mlx-convert", "q_bits": 4, "q_group_size": 64},
            "b128": {"recipe": "ort-int4-weight-only", "block_size": 128, "is_symmetric": False},
            "f16": {"recipe": "openvino-fp16"},
            "e": {"recipe": "optimum-onnx-export"},
        }
    )  # fmt: skip
    got = {label: (v.format, v.recipe, dict(v.params), v.base) for (_, label), v in model.variants.items()}
    assert got["int4g"] == (
        "openvino", "nncf-weight-compression", {"mode": "int4_asym", "group_size": "128", "ratio": "0.8"},
        ("openvino", "fp32"),
    )  # fmt: skip
    assert got["int4s"][1:3] == ("nncf-weight-compression", {"mode": "int4_sym"})  # the alias is stored by its name
    assert got["q4km"] == ("gguf", "llama-quantize", {"ftype": "Q4_K_M"}, ("gguf", "f32"))  # spelled as llama.cpp's
    assert got["gi4"] == ("ortgenai", "ort-genai-builder", {"precision": "int4"}, ("hf", "fp32"))
    assert got["m4"] == ("mlx", "mlx-convert", {"q_bits": "4", "q_group_size": "64"}, ("hf", "fp32"))
    assert got["b128"][2:] == ({"block_size": "128", "is_symmetric": "false"}, ("onnx", "fp32"))
    assert got["e"][2] == {"task": "text-generation-with-past"}  # the kind's task, filled in and keyed
    # The built-in int4 written in TOML types keys as the built-in itself does (its group_size is the text "64").
    same = declare({"int4": {"recipe": "nncf", "mode": "int4_asym", "group_size": 64}})
    assert (
        same.variants[("openvino", "int4")].params
        == builtin_models()["smollm2-135m"].variants[("openvino", "int4")].params
    )
    typed = RECIPES["nncf-weight-compression"].values(dict(model.variants[("openvino", "int4g")].params))
    assert typed == {"mode": "int4_asym", "group_size": 128, "ratio": 0.8, "all_layers": None}
    assert RECIPES["mlx-convert"].values({"dtype": "float16"}) == {
        "dtype": "float16",
        "q_bits": None,
        "q_group_size": 64,
    }


@pytest.mark.parametrize(
    ("model", "variants", "expected"),
    [
        ("smollm2-135m", {"x": {"recipe": "nncfx"}}, r"recipe = 'nncfx' is unknown; recipes: llama-quantize, "),
        ("smollm2-135m", {"x": {"recipe": "corpus-tokens"}}, r"'corpus-tokens' is the harness's own .*recipes: "),
        (
            "smollm2-135m",
            {"x": {"recipe": "nncf", "group": 64}},
            r"recipe 'nncf-weight-compression': unknown parameter 'group'; its parameters: mode, group_size, ratio, ",
        ),
        ("smollm2-135m", {"x": {"recipe": "openvino-fp16", "mode": "x"}}, r"its parameters: none \(it takes no "),
        (
            "smollm2-135m",
            {"x": {"recipe": "nncf", "mode": "int4_asym", "ratio": 1.5}},
            r"ratio = 1\.5 is out of range; it must be in 0\.\.1",
        ),
        ("smollm2-135m", {"x": {"recipe": "nncf", "ratio": "0.8"}}, r"ratio = '0\.8' must be a number; e\.g\. ratio"),
        (
            "smollm2-135m",
            {"x": {"recipe": "ort-int4-weight-only", "block_size": 100}},
            r"block_size = 100 is not a valid block_size; valid: 16, 32, 64, 128, 256",
        ),
        ("smollm2-135m", {"x": {"recipe": "ort-dynamic-int8", "per_channel": 1}}, r"per_channel = 1 must be true or"),
        (
            "smollm2-135m",
            {"x": {"recipe": "ort-genai-builder"}},
            r"precision is required \(the builder's -p\); valid: fp32, fp16, bf16, int8, int4",
        ),
        ("smollm2-135m", {"x": {"quantize": "Q4_7"}}, r"quantize = 'Q4_7' is not a llama\.cpp quantization type; "),
        (
            "smollm2-135m",
            {"x": {"recipe": "nncf", "group_size": 64}},
            r"mode = 'int8_asym' compresses every weight per channel and takes no group_size \(NNCF refuses",
        ),
        ("smollm2-135m", {"x": {"recipe": "mlx-convert", "q_group_size": 32}}, r"add q_bits = 4"),
        ("smollm2-135m", {"x": {"recipe": "ort-static-int8"}}, r"'ort-static-int8' makes nothing a causal-lm model"),
        (
            "smollm2-135m",
            {"x": {"recipe": "optimum-onnx-export", "task": "feature-extraction"}},
            r"use task = 'text-generation-with-past'",
        ),
        ("smollm2-135m", {"x": {"recipe": "nncf", "format": "onnx"}}, r"writes openvino, not format = 'onnx'"),
        (
            "smollm2-135m",
            {"x": {"recipe": "nncf", "from": "q4_0"}},
            r"reads openvino only, but from 'q4_0' is a gguf variant; set from = one of its openvino variants: fp32",
        ),
        (
            "digits-mlp",
            {"x": {"recipe": "nncf"}},
            r"reads openvino, but model digits-mlp has no openvino variant: declare one with path = '\.\.\.', ",
        ),
        ("smollm2-135m", {"x": {"recipe": "nncf", "from": "f64"}}, r"from = 'f64' is not a openvino variant"),
        ("smollm2-135m", {"x": {"recipe": "nncf", "mode": ["int4_asym"]}}, r"must be a string, number or true/false"),
        ("smollm2-135m", {"x": {"recipe": "nncf", "path": "a.xml"}}, r"give exactly one of path = 'file\.gguf', "),
    ],
)
def test_a_bad_declaration_is_one_line_naming_the_value_and_what_works(
    model: str, variants: dict[str, object], expected: str
) -> None:
    with pytest.raises(ConfigError, match=expected) as caught:
        declare(variants, model)
    assert "\n" not in str(caught.value)


def test_a_gguf_only_model_is_told_which_recipes_would_reach_the_format(tmp_path: Path) -> None:
    settings = {"reference": "fp32", "variants": {"fp32": "m.gguf", "i4": {"recipe": "nncf", "from": "fp32"}}}
    with pytest.raises(ConfigError) as caught:
        build_registry(parse_settings({"models": {"mine": settings}}, tmp_path).models)
    assert str(caught.value) == (
        "models.mine.variants.i4: recipe = 'nncf-weight-compression' reads openvino only, but from 'fp32' is a gguf "
        "variant; model mine has no openvino variant: declare one with path = '...', format = 'openvino'"
    )
    hf = {"reference": "f", "variants": {"f": {"path": "ckpt", "format": "hf"}, "i": {"recipe": "openvino-fp16"}}}
    with pytest.raises(ConfigError, match=r"or make one with recipe = 'optimum-openvino-export' \(from hf\)"):
        build_registry(parse_settings({"models": {"mine": hf}}, tmp_path).models)


def test_prepare_refuses_a_value_the_declaration_refuses_before_any_work(tmp_path: Path) -> None:
    from dataclasses import replace

    from benchharness.models.prepare import Preparer

    smollm2 = builtin_models()["smollm2-135m"]
    bad = replace(smollm2.variants[("openvino", "int4")], params=(("group_size", "100"), ("mode", "int4_asym")))
    model = replace(smollm2, variants={**smollm2.variants, bad.key: bad})
    with pytest.raises(PrepareError, match=r"recipe nncf-weight-compression: group_size = 100 is not a valid"):
        Preparer(tmp_path, threads=1, timeout_s=60, progress=print).prepare(model, "openvino", "int4")
    assert not any(tmp_path.iterdir())


def _mlp_folder(folder: Path) -> Path:
    """A small MLP graph (the digits classifier's shape, random weights) to run real quantizers on in seconds."""
    import numpy as np
    import onnx

    from benchharness.formats.onnx import _mlp_graph

    rng = np.random.default_rng(0)
    sizes = [(64, 256), (256, 128), (128, 64)]
    folder.mkdir(parents=True)
    onnx.save(_mlp_graph([rng.normal(size=s) for s in sizes], [np.zeros(s[1]) for s in sizes]), folder / "model.onnx")
    return folder


def _make(name: str, source: Path, destination: Path, **params: str) -> Path:
    """The recipe as the child runs it: its function, given the declaration's typed values."""
    recipe = RECIPES[name]
    recipe.load()(source, destination, recipe.values(params), 1)
    return destination


def test_ort_int4_block_size_and_symmetry_reach_the_quantizer(tmp_path: Path) -> None:
    pytest.importorskip("onnxruntime", reason="pip install 'benchharness[onnx]'")
    import onnx

    source = _mlp_folder(tmp_path / "fp32")

    def blocks(folder: Path) -> set[tuple[int, int]]:
        graph = onnx.load(str(folder / "model.onnx")).graph
        nodes = [n for n in graph.node if n.op_type == "MatMulNBits"]
        assert nodes, [n.op_type for n in graph.node]
        attributes = [{a.name: onnx.helper.get_attribute_value(a) for a in n.attribute} for n in nodes]
        return {
            (a["block_size"], len(n.input) > 3 and bool(n.input[3])) for a, n in zip(attributes, nodes, strict=True)
        }

    assert blocks(_make("ort-int4-weight-only", source, tmp_path / "default")) == {
        (32, False)
    }  # symmetric: no zero point
    declared = _make("ort-int4-weight-only", source, tmp_path / "b16", block_size="16", is_symmetric="false")
    assert blocks(declared) == {(16, True)}


def test_nncf_group_size_and_ratio_reach_nncf(tmp_path: Path) -> None:
    pytest.importorskip("nncf", reason="pip install 'benchharness[openvino]'")
    from benchharness.formats.openvino import MODEL_FILE, weight_composition

    source = _mlp_folder(tmp_path / "fp32")  # OpenVINO reads the ONNX graph itself
    every = _make("nncf-weight-compression", source, tmp_path / "all", mode="int4_sym", group_size="16")
    half = _make("nncf-weight-compression", source, tmp_path / "half", mode="int4_sym", group_size="16", ratio="0.5")
    shares = {name: dict(weight_composition(folder / MODEL_FILE, "INT4").shares) for name, folder in
              (("all", every), ("half", half))}  # fmt: skip
    # NNCF keeps the first and last layers at INT8 (all_layers unset); ratio 0.5 moves more of the rest to INT8.
    assert shares["all"]["INT4"] > shares["half"].get("INT4", 0.0) and shares["half"]["INT8"] > shares["all"]["INT8"]


def test_a_chain_across_formats_declared_from_a_gguf_needs_no_from(tmp_path: Path) -> None:
    """Each conversion into a format is that format's reference, and each recipe starts from its format's reference."""
    variants = {
        "q8": "m.gguf",
        "hf": {"recipe": "hf-from-gguf"},
        "onnx": {"recipe": "optimum-onnx-export"},
        "i8": {"recipe": "ort-dynamic-int8"},
        "ov": {"recipe": "optimum-openvino-export"},
        "ov4": {"recipe": "nncf", "mode": "int4_asym"},
        "q4": {"quantize": "Q4_0"},
    }
    settings = parse_settings({"models": {"mine": {"reference": "q8", "variants": variants}}}, tmp_path)
    model = build_registry(settings.models)["mine"]
    assert model.references == {"gguf": "q8", "hf": "hf", "onnx": "onnx", "openvino": "ov"}
    assert model.recipe_chain("openvino", "ov4") == [
        ("gguf", "q8"),
        ("hf", "hf"),
        ("openvino", "ov"),
        ("openvino", "ov4"),
    ]
    assert model.variants[("gguf", "q4")].base == ("gguf", "q8")
    assert model.variants[("onnx", "i8")].base == ("onnx", "onnx")
    no_such = {"models": {"digits-mlp": {"variants": {"x": {"recipe": "nncf", "from": "zzz"}}}}}
    with pytest.raises(ConfigError, match=r"from 'zzz' is no variant; model digits-mlp has no openvino variant: "):
        build_registry(parse_settings(no_such, tmp_path).models)


def test_the_variant_examples_init_writes_are_valid_declarations(tmp_path: Path) -> None:
    import tomllib

    from benchharness.scaffold import VARIANT_EXAMPLES

    models = {"encoder": "minilm-l6", "causal-lm": "smollm2-135m"}
    for kind, line in VARIANT_EXAMPLES.items():
        variants = tomllib.loads(line)
        model = build_registry(parse_settings({"models": {models[kind]: {"variants": variants}}}, tmp_path).models)
        (label,) = variants
        assert any(v.label == label and v.recipe for v in model[models[kind]].variants.values())


def test_a_model_no_named_backend_loads_is_told_which_recipes_would_make_one(tmp_path: Path) -> None:
    from benchharness import backends
    from benchharness.matrix import check_loadable
    from benchharness.settings import SuiteConfig

    registered = {name: cls() for name, cls in backends.registry().items()}
    checkpoint = {"kind": "causal-lm", "reference": "f", "variants": {"f": {"path": "ckpt", "format": "hf"}}}
    models = build_registry(parse_settings({"models": {"mine": checkpoint}}, tmp_path).models)
    with pytest.raises(ConfigError) as caught:
        check_loadable("[suites.s]", SuiteConfig("s", models=("mine",), backends=("openvino",)), models, registered)
    assert str(caught.value) == (
        "[suites.s]: no backend in openvino can load model 'mine' (causal-lm; formats: hf); backends that can: none; "
        "or declare a variant they read with recipe = 'optimum-onnx-export' (hf -> onnx) or 'optimum-openvino-export' "
        "(hf -> openvino)"  # OpenVINO reads ONNX too
    )


@pytest.mark.slow
def test_a_declared_recipe_is_prepared_through_the_child_with_its_defaults(tmp_path: Path) -> None:
    """`{ recipe = "nncf" }` alone: the child fills in mode = int8_asym, and the weights record INT8 as asked for."""
    pytest.importorskip("nncf", reason="pip install 'benchharness[openvino]'")
    import openvino as ov

    from benchharness.models.prepare import Preparer
    from benchharness.models.registry import VariantDef

    ir = tmp_path / "ir"
    ov.save_model(ov.convert_model(_mlp_folder(tmp_path / "mlp") / "model.onnx"), ir / "openvino_model.xml")
    settings = {"kind": "classifier", "reference": "fp32", "variants": {"fp32": {"path": str(ir), "format": "openvino"},
                "i8": {"recipe": "nncf"}}}  # fmt: skip
    model = build_registry(parse_settings({"models": {"mine": settings}}, tmp_path).models)["mine"]
    assert model.variants[("openvino", "i8")] == VariantDef(
        "i8", "openvino", recipe="nncf-weight-compression", base=("openvino", "fp32"), description="declared in config"
    )
    variant = Preparer(tmp_path / "cache", threads=1, timeout_s=300, progress=print).prepare(model, "openvino", "i8")
    assert variant.weights is not None and variant.weights.requested == "INT8"
    assert dict(variant.weights.shares)["INT8"] > 0.9, variant.weights.shares
    manifest = json.loads(variant.path.with_name(variant.path.name + ".json").read_text())
    assert manifest["recipe"] == "nncf-weight-compression" and manifest["params"] == {}


def test_the_readme_declaration_example_is_valid(tmp_path: Path) -> None:
    """The README's example declarations build (on SmolLM2, which has every format team-lm's checkpoint gives)."""
    import tomllib

    section = README.read_text().split("**Every recipe, with its parameters.**", 1)[1]
    example = section.split("```toml\n", 1)[1].split("```", 1)[0].replace("team-lm", "smollm2-135m")
    declared = tomllib.loads(example)["tool"]["benchharness"]
    models = build_registry(parse_settings(declared, tmp_path).models)
    for name, model in declared["models"].items():
        for label in model["variants"]:
            assert any(v.label == label and v.recipe for v in models[name].variants.values()), (name, label)


def test_the_prepare_line_keeps_the_digits_of_a_small_variant(tmp_path):
    """A newcomer's finding of the same kind as the cost line's "0 s": the digits variant was "done in 0.0 s
    (0 MiB)"; its time keeps 3 significant digits and its size its own unit (KiB)."""
    pytest.importorskip("sklearn", reason="pip install 'benchharness[exporters]'")
    pytest.importorskip("onnx", reason="pip install 'benchharness[onnx]'")
    from benchharness.models import prepare
    from benchharness.models.registry import builtin_models

    messages: list[str] = []
    prepare.Preparer(tmp_path / "cache", 1, 300, messages.append).prepare(
        builtin_models()["digits-mlp"], "onnx", "fp32"
    )
    done = [m for m in messages if ": done in " in m]
    assert done and all(re.search(r": done in [1-9][\d,.]* s|: done in 0\.0*[1-9]\d* s", m) for m in done), done
    assert not any("(0 MiB)" in m for m in done) and any(m.endswith("KiB)") for m in done), done
