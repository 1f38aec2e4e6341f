"""Recipes: how one variant file is made from another, with the field's own tools.

Each recipe names a function that runs inside a child process (a converter that crashes or eats
memory must not take the session down), the packages whose versions go into the cache key (a new
optimum or NNCF makes a new file instead of reusing a stale one), whether it writes a file or a
folder, the format it reads and the format it writes, and its parameters (models/recipe_params.py):
the one declaration that start-up validation, the cache key, the function's reading and the
README's recipe table all follow. The functions live next to their format: formats/gguf.py, ...
"""

from __future__ import annotations

import importlib
import importlib.util
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal, Protocol

from benchharness.errors import ConfigError, PrepareError
from benchharness.formats.gguf import CONVERT_OUTTYPES, FTYPES
from benchharness.models.recipe_params import Param, canonical, declared, typed
from benchharness.packages import installed

# What a recipe may leave in its output folder to say how it made it (read by prepare.provenance).
PROVENANCE_FILE = "provenance.json"

if TYPE_CHECKING:
    from benchharness.models.registry import ModelDef

# fn(source, destination, params, threads): source is None for recipes that start from nothing stored;
# params are the recipe's declared parameters as typed values, defaults filled in (None: the tool's).
RecipeFunction = Callable[[Path | None, Path, Mapping[str, Any], int], None]
# A rule between parameters (values with defaults, the names given, the model's kind): why not, or None.
Rule = Callable[[Mapping[str, Any], frozenset[str], str], str | None]


class ExternalTool(Protocol):
    """A tool a recipe runs that no installed distribution provides: what it is, and why it is absent."""

    @property
    def version(self) -> str: ...

    @property
    def missing(self) -> str | None: ...


@dataclass(frozen=True)
class Recipe:
    name: str
    function: str  # "module:function" run in the child process
    packages: tuple[str, ...]  # distributions whose versions key the cache
    output: Literal["file", "dir"]
    suffix: str = ""
    extra: str = ""  # pip extra that installs the tools
    # At most how large the output is against its base, for the free-space check before a build
    # (a dequantizing conversion such as GGUF Q8_0 -> float32 weights grows about fourfold).
    size_factor: float = 1.0
    reads: str | None = None  # the format of the variant it starts from (None: it starts from nothing stored)
    writes: str = ""  # the format of what it makes
    params: tuple[Param, ...] = ()
    summary: str = ""  # one line for the README's recipe table
    kinds: tuple[str, ...] = ()  # the model kinds it makes something usable of (empty: any)
    rule: Rule | None = None
    declarable: bool = True  # False: the harness's own (a shared artifact, a built-in model), not for TOML
    aliases: tuple[str, ...] = ()  # short names a declaration may use instead
    # "module:function" -> an ExternalTool for a tool that is no package's (llama.cpp's converter, fetched
    # from an sdist): its provenance joins the cache key, and its absence is a missing tool like a package's.
    external: str = ""
    # Who made the variant, as a report names it ("INT4 by Olive" next to "INT4 by the GenAI builder").
    maker: str = ""
    # "module:function" mapping params to what the cache key hashes (e.g. a workflow file by its content).
    key: str = ""
    # "module:function" mapping the canonical params to the format written, where it depends on them
    # (Olive: an ONNX Runtime GenAI folder where a ModelBuilder pass ends the workflow, else ONNX).
    writes_by: str = ""

    def tool_versions(self) -> str:
        versions = []
        for package in self.packages:
            found = installed(package)
            versions.append(f"{found[0]} {found[1]}" if found else f"{package} absent")
        if self.external:
            versions.append(self._external().version)
        return ", ".join(versions)

    def missing_tools(self) -> str | None:
        absent = [p for p in self.packages if _absent(p)]
        if absent:
            return f"recipe {self.name} needs {', '.join(absent)} (pip install 'benchharness[{self.extra}]')"
        if self.external and (missing := self._external().missing):
            return f"recipe {self.name} needs {missing}"
        return None

    def _external(self) -> ExternalTool:
        module, _, name = self.external.partition(":")
        tool: ExternalTool = getattr(importlib.import_module(module), name)()
        return tool

    def load(self) -> RecipeFunction:
        function: RecipeFunction = _resolve(self.function)
        return function

    def declare(
        self,
        raw: Mapping[str, object],
        kind: str,
        where: str,
        shown: Mapping[str, str] | None = None,
        root: Path | None = None,
    ) -> tuple[tuple[str, str], ...]:
        """A TOML declaration's parameters, checked, as the canonical text the cache key and the child read.

        Every fault is one ConfigError line naming the value and what would work.
        """
        if self.kinds and kind not in self.kinds:
            raise ConfigError(
                f"{where}: recipe {self.name!r} makes nothing a {kind} model's backends load "
                f"(it is for {', '.join(self.kinds)} models); "
                f"recipes for {kind}: {', '.join(declarable_for(kind, self.reads))}"
            )
        try:
            params = declared(self.params, raw, kind, shown, root)
            self._check_rule(dict(params), kind)
        except ValueError as e:
            named = "" if shown else f" recipe {self.name!r}:"  # a short form (quantize = ...) names no recipe
            raise ConfigError(f"{where}:{named} {e}") from None
        return params

    def values(self, params: Mapping[str, str], kind: str = "") -> dict[str, Any]:
        """Stored parameters as typed values with defaults; PrepareError for values the declaration refuses.

        What the child passes the recipe function, and what prepare checks before any work.
        """
        try:
            return self._check_rule(params, kind)
        except ValueError as e:
            raise PrepareError(f"recipe {self.name}: {e}") from None

    def _check_rule(self, params: Mapping[str, str], kind: str) -> dict[str, Any]:
        values = typed(self.params, params)
        if self.rule is not None and (why := self.rule(values, frozenset(params), kind)):
            raise ValueError(why)
        return values

    def output_format(self, params: Mapping[str, str]) -> str:
        """The format this recipe writes with these (canonical) params."""
        if self.writes_by:
            fmt: str = _resolve(self.writes_by)(params)
            return fmt
        return self.writes

    @property
    def made_by(self) -> str:
        return self.maker or self.name

    def key_params(self, params: Mapping[str, str]) -> Mapping[str, str]:
        """The params as the cache key sees them: the recipe's own mapping (files named by content) or as given."""
        if self.key:
            keyed: Mapping[str, str] = _resolve(self.key)(params)
            return keyed
        return params


def _resolve(path: str) -> Callable[..., Any]:
    module, _, name = path.partition(":")
    function: Callable[..., Any] = getattr(importlib.import_module(module), name)
    return function


def _absent(package: str) -> bool:
    return installed(package) is None


_M = "benchharness.models"
_F = "benchharness.formats"  # each format's module holds the recipes that write it

_EXPORT_TASKS = (("causal-lm", "text-generation-with-past"), ("encoder", "feature-extraction"))
_NNCF_4BIT_ONLY = ("group_size", "ratio", "all_layers")
_MLX_BITS = (2, 3, 4, 5, 6, 8)


def _export_task_rule(values: Mapping[str, Any], given: frozenset[str], kind: str) -> str | None:
    """An export's task is the one its model kind's backends load (a causal LM with its KV cache, an encoder's states)."""
    wanted = dict(_EXPORT_TASKS).get(kind)
    if wanted is not None and values["task"] != wanted:
        return f"task = {values['task']!r} does not make a {kind} model the backends load; use task = {wanted!r}"
    return None


def _nncf_rule(values: Mapping[str, Any], given: frozenset[str], kind: str) -> str | None:
    """NNCF's INT8 modes compress every layer per channel: group_size, ratio and all_layers are for 4-bit modes."""
    if str(values["mode"]).startswith("int8") and (named := [n for n in _NNCF_4BIT_ONLY if n in given]):
        return (
            f"mode = {values['mode']!r} compresses every weight per channel and takes no {', '.join(named)} "
            "(NNCF refuses them there): remove them, or set mode = 'int4_asym' (or int4_sym, nf4)"
        )
    return None


def _mlx_rule(values: Mapping[str, Any], given: frozenset[str], kind: str) -> str | None:
    if "q_group_size" in given and values["q_bits"] is None:
        return "q_group_size applies to a quantized conversion; add q_bits = 4 (or 8, ...) or remove q_group_size"
    return None


def _genai_rule(values: Mapping[str, Any], given: frozenset[str], kind: str) -> str | None:
    if values["extra_options"] is not None and any("=" not in o for o in str(values["extra_options"]).split()):
        return (
            f"extra_options = {values['extra_options']!r} must be space-separated key=value pairs, "
            "e.g. 'shared_embeddings=false int4_block_size=64'"
        )
    return None


def _olive_rule(values: Mapping[str, Any], given: frozenset[str], kind: str) -> str | None:
    """Olive's own checks (its argument parser's choices, its workflow schema), on the parameters given."""
    from benchharness.models.olive_format import check_params

    if importlib.util.find_spec("olive") is None:  # not installed: its cases are skipped with the install line
        return None
    try:
        check_params({name: canonical(values[name]) for name in given})
    except ConfigError as e:
        return str(e).removeprefix("olive recipe: ")
    return None


# optimum's export task, shared by its ONNX and OpenVINO exporters: by default the one the model kind needs.
_EXPORT_TASK = Param(
    "task",
    str,
    "optimum's export task",
    choices=tuple(t for _, t in _EXPORT_TASKS),
    required=True,
    by_kind=_EXPORT_TASKS,
)


RECIPES: dict[str, Recipe] = {
    r.name: r
    for r in (
        Recipe(
            "llama-quantize",
            f"{_F}.gguf:llama_quantize",
            ("llama-cpp-python",),
            "file",
            ".gguf",
            "llamacpp",
            reads="gguf",
            writes="gguf",
            summary='llama.cpp\'s quantizer (`llama_model_quantize`, requantizing allowed); `quantize = "TYPE"` '
            "is short for it",
            params=(
                Param(
                    "ftype",
                    str,
                    "the llama.cpp file type to write",
                    choices=tuple(FTYPES),
                    required=True,
                    noun="a llama.cpp quantization type",
                ),
            ),
        ),
        # llama.cpp's own converter, from the sdist of the installed llama-cpp-python (fetched at set-up).
        Recipe(
            "llama-convert-hf",
            f"{_F}.gguf:convert_hf",
            ("llama-cpp-python", "torch", "transformers", "numpy"),
            "file",
            ".gguf",
            "llamacpp,exporters",
            external=f"{_F}.llamacpp_converter:status",
            reads="hf",
            writes="gguf",
            kinds=("causal-lm",),
            summary="llama.cpp's own `convert_hf_to_gguf.py` (from the installed llama-cpp-python's sdist, fetched "
            "by `benchharness fetch-llama-converter`): a checkpoint folder as one full-precision GGUF",
            params=(
                Param(
                    "outtype",
                    str,
                    "the GGUF's full-precision type (quantize from it with llama-quantize)",
                    default="f32",
                    choices=CONVERT_OUTTYPES,
                ),
            ),
        ),
        Recipe(
            "corpus-tokens",
            f"{_F}.gguf:tokenize_corpus",
            ("llama-cpp-python",),
            "file",
            ".npy",
            "llamacpp",
            reads="gguf",
            writes="tokens",
            declarable=False,
            summary="the accuracy text as token ids by the GGUF's own tokenizer (made per model, not a variant)",
            params=(
                Param("corpus", str, "the SHA-256 of the text, re-checked when it is read", required=True),
                Param(
                    "data", str, "the declared data files (JSON), re-read and re-checked", absent="the built-in text"
                ),
            ),
        ),
        Recipe(
            "hf-from-gguf",
            f"{_F}.hf:hf_from_gguf",
            ("transformers", "gguf", "torch", "accelerate"),
            "dir",
            "",
            "onnx",
            size_factor=4.0,
            reads="gguf",
            writes="hf",
            kinds=("causal-lm",),
            summary="transformers dequantizes a GGUF into an FP32 checkpoint folder",
            params=(
                Param(
                    "tokenizer",
                    str,
                    "whose tokenizer the folder gets: transformers' reading of the GGUF, or one rebuilt from the "
                    "GGUF's own vocabulary and merges (byte-level BPE models such as SmolLM2, which transformers "
                    "reads as a Llama tokenizer)",
                    default="transformers",
                    choices=("transformers", "gguf"),
                ),
            ),
        ),
        Recipe(
            "optimum-onnx-export",
            f"{_F}.onnx:optimum_export",
            ("optimum-onnx", "transformers", "torch"),
            "dir",
            "",
            "onnx",
            reads="hf",
            writes="onnx",
            kinds=("causal-lm", "encoder"),
            rule=_export_task_rule,
            summary="optimum's ONNX exporter (`optimum-cli export onnx`), FP32",
            params=(_EXPORT_TASK,),
        ),
        Recipe(
            "ort-dynamic-int8",
            f"{_F}.onnx:dynamic_int8",
            ("onnxruntime", "onnx"),
            "dir",
            "",
            "onnx",
            reads="onnx",
            writes="onnx",
            summary="onnxruntime's `quantize_dynamic`: INT8 weights, activations quantized at run time",
            params=(
                Param("weight_type", str, "the weights' integer type", "QInt8", choices=("QInt8", "QUInt8")),
                Param("per_channel", bool, "one scale per output channel instead of per tensor", False),
                Param("reduce_range", bool, "7-bit weights (for CPUs without VNNI, where 8 bits can overflow)", False),
            ),
        ),
        Recipe(
            "ort-int4-weight-only",
            f"{_F}.onnx:int4_weight_only",
            ("onnxruntime", "onnx", "onnx-ir"),
            "dir",
            "",
            "onnx",
            reads="onnx",
            writes="onnx",
            summary="onnxruntime's MatMulNBits quantizer: 4-bit weight blocks, as onnxruntime-genai builds",
            params=(
                Param("block_size", int, "weights per quantization block", 32, choices=(16, 32, 64, 128, 256)),
                Param("is_symmetric", bool, "symmetric blocks (no zero point)", True),
                Param(
                    "accuracy_level",
                    int,
                    "the MatMul's compute type: 0 unset, 1 fp32, 2 fp16, 3 bf16, 4 int8",
                    4,
                    choices=(0, 1, 2, 3, 4),
                ),
            ),
        ),
        Recipe(
            "train-digits-mlp",
            f"{_F}.onnx:train_digits_mlp",
            ("scikit-learn", "onnx"),
            "dir",
            "",
            "onnx",
            reads=None,
            writes="onnx",
            declarable=False,
            summary="the built-in digits classifier, trained on scikit-learn's digits",
        ),
        Recipe(
            "ort-static-int8",
            f"{_F}.onnx:static_int8",
            ("onnxruntime", "onnx", "scikit-learn"),
            "dir",
            "",
            "onnx",
            reads="onnx",
            writes="onnx",
            kinds=("classifier",),
            summary="onnxruntime's `quantize_static`, calibrated on the digits training split (never the test split)",
            params=(
                Param("calibration", str, "the calibration data", "digits-train", choices=("digits-train",)),
                Param("quant_format", str, "QDQ pairs or quantized operators", "QDQ", choices=("QDQ", "QOperator")),
                Param("per_channel", bool, "one weight scale per output channel", True),
                Param("weight_type", str, "the weights' integer type", "QInt8", choices=("QInt8", "QUInt8")),
                Param("activation_type", str, "the activations' integer type", "QUInt8", choices=("QUInt8", "QInt8")),
            ),
        ),
        Recipe(
            "optimum-openvino-export",
            f"{_F}.openvino:optimum_export",
            ("optimum-intel", "openvino", "torch"),
            "dir",
            "",
            "openvino",
            reads="hf",
            writes="openvino",
            kinds=("causal-lm", "encoder"),
            rule=_export_task_rule,
            summary="optimum-intel's OpenVINO exporter, FP32 weights (a stateful LM: the KV cache in the runtime)",
            params=(_EXPORT_TASK,),
        ),
        Recipe(
            "openvino-fp16",
            f"{_F}.openvino:fp16",
            ("openvino",),
            "dir",
            "",
            "openvino",
            reads="openvino",
            writes="openvino",
            summary="the IR saved with FP16 weights (OpenVINO's `compress_to_fp16`)",
        ),
        Recipe(
            "nncf-weight-compression",
            f"{_F}.openvino:compress_weights",
            ("openvino", "nncf"),
            "dir",
            "",
            "openvino",
            reads="openvino",
            writes="openvino",
            rule=_nncf_rule,
            aliases=("nncf",),
            summary="NNCF's data-free `compress_weights`: INT8 per channel, or 4-bit groups",
            params=(
                Param(
                    "mode",
                    str,
                    "NNCF's CompressWeightsMode",
                    "int8_asym",
                    choices=("int8_asym", "int8_sym", "int4_asym", "int4_sym", "nf4"),
                ),
                Param(
                    "group_size",
                    int,
                    "weights per 4-bit group (-1: per channel)",
                    choices=(-1, 16, 32, 64, 128, 256),
                    absent="NNCF's (128)",
                ),
                Param(
                    "ratio",
                    float,
                    "share of the weights in 4 bits, the rest INT8 (4-bit modes)",
                    1.0,
                    low=0.0,
                    high=1.0,
                ),
                Param(
                    "all_layers",
                    bool,
                    "4 bits for the embeddings and last layer too (4-bit modes)",
                    absent="NNCF's (false)",
                ),
            ),
        ),
        Recipe(
            "ort-genai-builder",
            f"{_F}.ortgenai:build",
            ("onnxruntime-genai", "transformers", "torch", "onnxruntime"),
            "dir",
            "",
            "ortgenai",
            reads="hf",
            writes="ortgenai",
            kinds=("causal-lm",),
            rule=_genai_rule,
            summary="onnxruntime-genai's model builder (`python -m onnxruntime_genai.models.builder`), offline",
            params=(
                Param(
                    "precision",
                    str,
                    "the builder's -p",
                    choices=("fp32", "fp16", "bf16", "int8", "int4"),
                    required=True,
                    noun="a builder precision",
                ),
                Param("execution_provider", str, "the builder's -e", "cpu", choices=("cpu", "cuda")),
                Param(
                    "extra_options",
                    str,
                    "the builder's --extra_options, space-separated key=value pairs",
                    absent="none",
                ),
            ),
            maker="the GenAI builder",
        ),
        Recipe(
            "mlx-convert",
            f"{_F}.mlx:convert",
            ("mlx-lm", "mlx"),
            "dir",
            "",
            "mlx",
            reads="hf",
            writes="mlx",
            kinds=("causal-lm",),
            rule=_mlx_rule,
            summary="mlx-lm's `mlx_lm.convert`: a dtype, and its group quantization when q_bits is set",
            params=(
                Param(
                    "dtype", str, "the unquantized weights' type", "float32", choices=("float32", "float16", "bfloat16")
                ),
                Param("q_bits", int, "bits per quantized weight", choices=_MLX_BITS, absent="none: not quantized"),
                Param("q_group_size", int, "weights per quantization group", 64, choices=(32, 64, 128)),
            ),
        ),
        # Microsoft Olive: a team's workflow file (`config`) or `olive optimize` with its options, offline.
        Recipe(
            "olive",
            f"{_M}.olive_format:run_workflow",
            ("olive-ai", "onnxruntime-genai", "transformers", "torch", "onnxruntime"),
            "dir",
            "",
            "olive",
            maker="Olive",
            key=f"{_M}.olive_format:key_params",
            reads="hf",
            writes="ortgenai",
            writes_by=f"{_M}.olive_format:output_format",
            kinds=("causal-lm",),
            rule=_olive_rule,
            summary="Microsoft Olive, offline: a team's workflow file (`config`), or `olive optimize` with its options; "
            "writes an ONNX Runtime GenAI folder where a ModelBuilder pass ends the workflow, else ONNX",
            params=(
                Param(
                    "config",
                    str,
                    "a team's Olive workflow (JSON or YAML), relative to the file that declares it; set nothing else",
                    file=True,
                    absent="none: olive optimize's options",
                ),
                Param(
                    "command", str, "the Olive command run without a config", choices=("optimize",), absent="optimize"
                ),
                Param(
                    "precision", str, "olive optimize --precision (Olive's own parser checks the value)", absent="none"
                ),
                Param("provider", str, "--provider, an execution provider", absent="Olive's default"),
                Param("device", str, "--device (cpu, gpu, npu)", absent="Olive's default"),
                Param(
                    "exporter",
                    str,
                    "--exporter (model_builder writes an ONNX Runtime GenAI folder)",
                    absent="model_builder",
                ),
                Param(
                    "block_size",
                    int,
                    "--block_size, weights per quantization block (-1: per channel)",
                    absent="Olive's default",
                ),
                Param("act_precision", str, "--act_precision", absent="Olive's default"),
                Param("use_qdq_format", bool, "--use_qdq_format", absent="false"),
                Param("extra_mb_options", str, "--extra_mb_options, the model builder's extra options", absent="none"),
                Param("task", str, "--task", absent="Olive's default"),
            ),
        ),
        # A derived artifact, not a variant: made beside a prepared variant (prepare.DERIVED_ARTIFACTS).
        Recipe(
            "onnx-last-logits",
            f"{_F}.onnx_last_logits:make",
            ("onnx",),
            "dir",
            "",
            "onnx",
            reads="onnx",
            writes="onnx",
            declarable=False,
            summary="a copy of a causal LM's graph whose head computes only the logits asked for (derived, not a variant)",
        ),
    )
}
ALIASES: dict[str, str] = {alias: r.name for r in RECIPES.values() for alias in r.aliases}


def missing_tools_for(model: ModelDef, fmt: str, label: str) -> str | None:
    """Why a variant cannot be made on this machine (a converter is not installed), or None."""
    for key in model.recipe_chain(fmt, label):
        name = model.variants[key].recipe
        if name is not None and (missing := recipe(name).missing_tools()):
            return f"{model.name} {fmt} {label}: {missing}"
    return None


def recipe(name: str) -> Recipe:
    if name not in RECIPES:
        raise PrepareError(f"unknown recipe {name!r}; known: {', '.join(RECIPES)}")
    return RECIPES[name]


def declarable_for(kind: str, reads: str | None = None) -> list[str]:
    """The recipes a declaration may name for a model of `kind` (reading `reads`, if given)."""
    return [
        r.name
        for r in RECIPES.values()
        if r.declarable and (not r.kinds or kind in r.kinds) and (reads is None or r.reads == reads)
    ] or [r.name for r in RECIPES.values() if r.declarable and (not r.kinds or kind in r.kinds)]


def declared_recipe(name: str, where: str) -> Recipe:
    """The recipe a declaration names (or an alias of it), or one ConfigError line listing those it may name."""
    found = RECIPES.get(ALIASES.get(name, name))
    if found is None or not found.declarable:
        why = "is the harness's own (not declarable)" if found else "is unknown"
        known = [r.name for r in RECIPES.values() if r.declarable]
        aliases = ", ".join(f"{a} = {n}" for a, n in ALIASES.items())
        raise ConfigError(f"{where}: recipe = {name!r} {why}; recipes: {', '.join(known)} (short names: {aliases})")
    return found


def markdown_table() -> str:
    """The README's table of declarable recipes and their parameters, made from the declarations themselves."""
    rows = [
        "| recipe | reads -> writes | parameter | type / allowed | default | meaning |",
        "|---|---|---|---|---|---|",
    ]
    for r in RECIPES.values():
        if not r.declarable:
            continue
        name = f"`{r.name}`" + (f" (`{'`, `'.join(r.aliases)}`)" if r.aliases else "")
        formats = f"{r.reads} -> {r.writes}" + (f" ({', '.join(r.kinds)})" if r.kinds else "")
        rows.append(f"| {name} | {formats} | | | | {r.summary} |")
        for p in r.params:
            rows.append(f"| | | `{p.name}` | {p.allowed_text()} | {p.default_text()} | {p.doc} |")
    return "\n".join(rows)
