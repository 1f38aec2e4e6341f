"""Bytes read per decoded token: what bounds a decode row by the machine's memory bandwidth.

Decoding one token of a small model reads every weight once (a matrix-vector product per layer)
and the whole KV cache in context, and little else, so tokens/s <= read bandwidth / bytes per
token. Both terms are read from the variant's own files, never from its label:

- weights: every stored tensor (quantization scales and zero points included), except tables that
  are only looked up (an input embedding feeding a Gather reads one row per token). A tied
  embedding (SmolLM2's) is the output projection too and counts whole; a GGUF with a separate
  `output.weight` reads `token_embd.weight` by lookup only.
- KV cache: layers x KV heads x head size x 2 (keys and values) x element size per token in
  context. The shape comes from the GGUF's metadata or the exported graph / config.json. The
  element size is the runtime's: llama.cpp's default f16 (the backend sets no cache type); ONNX
  Runtime's is the graph's past_key_values input type; OpenVINO's is chosen at compile time
  (KV_CACHE_PRECISION, recorded in the row's runtime_settings) and read from there; quantized KV
  caches (u8) are counted at their element width, their per-group scales left out.
- weights the runtime converts: OpenVINO's CPU plugin compiles FP32 constants to its inference
  precision (bf16 on CPUs with AVX-512 BF16 or AMX, OpenVINO GenAI's default), so a row whose
  `runtime_settings.inference_precision_hint` is bf16 or f16 reads its f32 tensors at 2 bytes per
  element. Counted at 4, SmolLM2's FP32 IR read 53.6 GB/s through OpenVINO GenAI on a VM whose
  measured read bandwidth is 45 GB/s (MBU 1.26, impossible).

A format or file this cannot read gives no figure and says why, rather than a guess.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

# OpenVINO element type names (KV_CACHE_PRECISION) -> bytes per element.
OV_ELEMENT_BYTES = {"f32": 4.0, "f16": 2.0, "bf16": 2.0, "u8": 1.0, "i8": 1.0, "u4": 0.5, "i4": 0.5}
ONNX_ELEMENT_BYTES = {"FLOAT": 4.0, "FLOAT16": 2.0, "BFLOAT16": 2.0, "UINT8": 1.0, "INT8": 1.0}
LOOKUP_OPS = {"Gather", "GatherBlockQuantized"}  # a table read one row per token
PASS_THROUGH = {"DequantizeLinear", "Cast", "Reshape", "Convert", "Subtract", "Multiply", "Unsqueeze", "Squeeze"}


@dataclass(frozen=True)
class TokenTraffic:
    """A variant's bytes per decoded token, apart from the KV cache's element size where the runtime picks it.

    Kept in the variant's manifest and in each decode row's reply (`info.traffic`), field for field
    (typed_json); a count kept before `f32_weight_bytes` existed reads it as None.
    """

    weight_bytes: int  # read per token: every stored tensor but lookup-only tables
    lookup_bytes: int  # tables only looked up (one row per token; not counted)
    layers: int | None
    kv_heads: int | None
    head_dim: int | None
    kv_element_bytes: float | None  # None: chosen by the runtime at compile time (see kv_element_for)
    kv_element_source: str
    kv_unknown: str | None = None  # why the KV shape could not be read
    f32_weight_bytes: int | None = None  # f32 tensors among weight_bytes (OpenVINO: converted when compiling)

    def kv_bytes_per_context_token(self, element_bytes: float) -> float | None:
        if self.layers is None or self.kv_heads is None or self.head_dim is None:
            return None
        return self.layers * self.kv_heads * self.head_dim * 2 * element_bytes


@dataclass(frozen=True)
class BytesPerToken:
    """One decode row's bytes per token at its depth, and how they were counted (or why they could not be)."""

    value: float | None
    source: str


def kv_element_for(traffic: TokenTraffic, runtime_settings: Mapping[str, str]) -> tuple[float | None, str]:
    """The KV element size the row ran with: the file's, or OpenVINO's compiled KV_CACHE_PRECISION."""
    if traffic.kv_element_bytes is not None:
        return traffic.kv_element_bytes, traffic.kv_element_source
    precision = runtime_settings.get("kv_cache_precision", "").lower()
    if precision in OV_ELEMENT_BYTES:
        return OV_ELEMENT_BYTES[precision], f"KV_CACHE_PRECISION {precision} (runtime_settings; scales left out)"
    return None, f"the runtime's KV cache type is not recorded ({precision or 'no kv_cache_precision'})"


def bytes_per_token(traffic: TokenTraffic, runtime_settings: Mapping[str, str], mean_context: float) -> BytesPerToken:
    """Weights read per token plus the KV cache at the mean context of the decoded tokens."""
    if traffic.kv_unknown is not None:
        return BytesPerToken(None, f"KV cache shape unknown: {traffic.kv_unknown}")
    element, element_source = kv_element_for(traffic, runtime_settings)
    per_context = None if element is None else traffic.kv_bytes_per_context_token(element)
    if per_context is None:
        return BytesPerToken(None, element_source)
    kv = per_context * mean_context
    weights, converted = float(traffic.weight_bytes), ""
    hint = runtime_settings.get("inference_precision_hint", "").lower()
    if hint in ("bf16", "f16") and traffic.f32_weight_bytes:
        weights -= traffic.f32_weight_bytes / 2
        converted = f", its {traffic.f32_weight_bytes} B of f32 tensors read as {hint} (inference_precision_hint)"
    return BytesPerToken(
        weights + kv,
        f"{weights:.0f} weight bytes (lookup-only tables, {traffic.lookup_bytes} B, left out{converted}) + KV "
        f"{traffic.layers} layers x {traffic.kv_heads} heads x {traffic.head_dim} x 2 x {element:g} B "
        f"({element_source}) x {mean_context:g} tokens in context",
    )


def read_traffic(fmt: str, path: Path) -> TokenTraffic | None:
    """The variant's traffic read from its files; None for formats not read here (hf, mlx) or a missing reader."""
    from benchharness.formats import FORMATS

    found = FORMATS.get(fmt)
    if found is None:  # the shared corpus tokens, not a model format
        return None
    try:
        if found.graph == "gguf":
            return _gguf(found.model_file(path))
        if found.graph == "onnx":
            return _onnx(found.model_file(path), path)
        if found.graph == "openvino":
            return _openvino(found.model_file(path), path)
    except ImportError:
        return None
    return None


def _gguf(path: Path) -> TokenTraffic:
    import gguf

    reader = gguf.GGUFReader(path)
    sizes: dict[str, int] = {}
    for tensor in reader.tensors:
        block, type_bytes = gguf.GGML_QUANT_SIZES[gguf.GGMLQuantizationType(int(tensor.tensor_type))]
        sizes[tensor.name] = int(tensor.n_elements) // block * type_bytes
    lookup = sizes.get("token_embd.weight", 0) if "output.weight" in sizes else 0

    def number(key: str) -> int | None:
        field = reader.get_field(key)
        return None if field is None else int(field.parts[field.data[0]][0])

    field = reader.get_field("general.architecture")
    arch = bytes(field.parts[field.data[0]]).decode() if field is not None else ""
    layers, heads = number(f"{arch}.block_count"), number(f"{arch}.attention.head_count")
    kv_heads = number(f"{arch}.attention.head_count_kv") or heads
    head_dim = number(f"{arch}.attention.key_length")
    width = number(f"{arch}.embedding_length")
    if head_dim is None and width and heads:
        head_dim = width // heads
    unknown = None if layers and kv_heads and head_dim else f"{path.name} has no {arch or 'architecture'} KV metadata"
    return TokenTraffic(
        sum(sizes.values()) - lookup,
        lookup,
        layers,
        kv_heads,
        head_dim,
        2.0,
        "f16, llama.cpp's default KV cache type (the backend sets none)",
        unknown,
    )


def _config_shape(folder: Path) -> tuple[int | None, int | None, int | None]:
    """(layers, KV heads, head size) from a Hugging Face config.json or a genai_config.json beside the graph."""
    for name in ("config.json", "genai_config.json"):
        try:
            config = json.loads((folder / name).read_text())
        except (OSError, ValueError):
            continue
        decoder = config.get("model", {}).get("decoder") if name == "genai_config.json" else config
        if not isinstance(decoder, dict):
            continue
        heads = decoder.get("num_attention_heads")
        kv_heads = decoder.get("num_key_value_heads") or heads
        head_dim = decoder.get("head_dim") or decoder.get("head_size")
        if head_dim is None and heads and decoder.get("hidden_size"):
            head_dim = int(decoder["hidden_size"]) // int(heads)
        layers = decoder.get("num_hidden_layers")
        return layers, kv_heads, head_dim
    return None, None, None


def _lookup_only(name: str, uses: Mapping[str, list[tuple[Any, int]]], op: str = "op_type") -> bool:
    """Whether every path from `name` ends in a lookup (through dequantization and reshapes)."""
    consumers = uses.get(name, [])
    if not consumers:
        return False
    for node, index in consumers:
        kind = getattr(node, op)
        if (kind == "Gather" and index == 0) or kind == "GatherBlockQuantized":
            continue
        if kind in PASS_THROUGH and all(_lookup_only(out, uses, op) for out in node.output):
            continue
        return False
    return True


def _onnx(graph_path: Path, folder: Path) -> TokenTraffic:
    import numpy as np
    import onnx

    from benchharness.formats.onnx import _BITS

    model = onnx.load(str(graph_path), load_external_data=False)
    graph = model.graph
    uses: dict[str, list[tuple[Any, int]]] = {}
    for node in graph.node:
        for index, name in enumerate(node.input):
            uses.setdefault(name, []).append((node, index))
    read = lookup = 0.0
    for tensor in graph.initializer:
        elements = int(np.prod(tensor.dims, dtype=np.int64)) if tensor.dims else 1
        size = elements * _BITS.get(onnx.TensorProto.DataType.Name(tensor.data_type), 32) / 8
        if _lookup_only(tensor.name, uses):
            lookup += size
        else:
            read += size
    past = [i for i in graph.input if i.name.startswith("past_key_values.") and i.name.endswith(".key")]
    layers, kv_heads, head_dim = _config_shape(folder if folder.is_dir() else folder.parent)
    element: float | None = None
    source = "the graph has no past_key_values inputs"
    if past:
        layers = len(past)
        dims = past[0].type.tensor_type.shape.dim
        kv_heads = dims[1].dim_value or kv_heads
        head_dim = dims[3].dim_value or head_dim
        type_name = onnx.TensorProto.DataType.Name(past[0].type.tensor_type.elem_type)
        element = ONNX_ELEMENT_BYTES.get(type_name)
        source = f"{type_name}, the graph's past_key_values input type"
    unknown = None if layers and kv_heads and head_dim else f"{graph_path.name}: {source}, and no config.json shape"
    return TokenTraffic(round(read), round(lookup), layers, kv_heads, head_dim, element, source, unknown)


class _OvNode:
    """An OpenVINO node as _lookup_only walks it: its type name and its outputs' names."""

    def __init__(self, node: Any) -> None:
        self.op_type = node.get_type_name()
        self.output = [f"{node.get_friendly_name()}:{i}" for i in range(node.get_output_size())]


def _openvino(model_path: Path, folder: Path) -> TokenTraffic:
    import numpy as np
    import openvino as ov

    model = ov.Core().read_model(model_path)
    uses: dict[str, list[tuple[Any, int]]] = {}
    constants = []
    for op in model.get_ops():
        for index in range(op.get_input_size()):
            source = op.input_value(index)
            name = f"{source.get_node().get_friendly_name()}:{source.get_index()}"
            uses.setdefault(name, []).append((_OvNode(op), index))
        if op.get_type_name() == "Constant":
            constants.append(op)
    read = lookup = f32 = 0.0
    for op in constants:
        element = op.get_output_element_type(0)
        size = int(np.prod(list(op.get_output_shape(0)), dtype=np.int64)) * element.bitwidth / 8
        if _lookup_only(f"{op.get_friendly_name()}:0", uses):
            lookup += size
        else:
            read += size
            f32 += size if element == ov.Type.f32 else 0.0
    layers, kv_heads, head_dim = _config_shape(folder if folder.is_dir() else folder.parent)
    unknown = None if layers and kv_heads and head_dim else f"no config.json beside {model_path.name} gives its shape"
    return TokenTraffic(
        round(read),
        round(lookup),
        layers,
        kv_heads,
        head_dim,
        None,
        "OpenVINO chooses it when compiling (KV_CACHE_PRECISION)",
        unknown,
        round(f32),
    )
