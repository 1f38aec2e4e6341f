"""What a variant's weights really are: parameters per stored type, and bits per weight.

A recipe's label says what was asked for, not what was made. llama.cpp's quantizer writes other
types for rows whose width is not a multiple of 256 (SmolLM2's 576-wide rows: its "Q4_K_M" is
mostly Q5_0 and Q8_0), and the ONNX and OpenVINO quantizers leave embeddings or small layers in
floating point. So each prepared variant's tensor types are read once, at prepare time, by its
format's reader (formats/gguf.py, onnx.py, openvino.py), kept in its manifest, and carried in
every measurement's info as `weights`; a row whose requested type covers under half of the
parameters gets a warning.

Type names: GGUF files keep llama.cpp's tensor types (Q4_K, Q8_0, F32, IQ4_NL, ...); ONNX and
OpenVINO weights are named by their stored precision (FP32, FP16, BF16, INT8, INT4: integers by
width, signed or not, since a zero point only moves the range). Quantization scales and zero
points are not parameters: they count in the bytes, so bits per weight (8 x bytes / parameters)
includes what they cost.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchharness.typed_json import check_keys, read_value

# Under this share of the parameters in the requested type, the row's label is called out.
MIN_REQUESTED_SHARE = 0.5
# What `to_json` writes beside the stored fields, derived from them: each key's type.
DERIVED: dict[str, Any] = {"types": dict[str, float], "bits_per_weight": float | None, "requested_share": float | None}


@dataclass(frozen=True)
class WeightComposition:
    """Parameters per stored type, the bytes they take, and the type the recipe asked for."""

    parameters: tuple[tuple[str, int], ...]  # (type, parameter count), most parameters first
    weight_bytes: int  # the weights and their scales / zero points, as stored
    requested: str | None  # what the recipe or the file's own header asked for (Q4_K_M, INT8), if known
    requested_types: tuple[str, ...]  # the stored types that count as the request (Q4_K for Q4_K_M)

    @property
    def total(self) -> int:
        return sum(n for _, n in self.parameters)

    @property
    def shares(self) -> dict[str, float]:
        """Each type's share of the parameters."""
        total = self.total
        return {name: n / total for name, n in self.parameters} if total else {}

    @property
    def bits_per_weight(self) -> float | None:
        return 8 * self.weight_bytes / self.total if self.total else None

    @property
    def requested_share(self) -> float | None:
        """The share of parameters stored in the requested type (None where no type was requested or known)."""
        if not self.requested_types or not self.total:
            return None
        return sum(share for name, share in self.shares.items() if name in self.requested_types)

    def warning(self) -> str | None:
        """One line when the requested type covers under half of the weights: the label overstates it."""
        share = self.requested_share
        if share is None or share >= MIN_REQUESTED_SHARE:
            return None
        others = ", ".join(
            f"{name} {s:.0%}" for name, s in self.shares.items() if name not in self.requested_types and s >= 0.005
        )
        return (
            f"weights: requested {self.requested} covers only {share:.0%} of the parameters (the rest: {others}; "
            f"{self.bits_per_weight:.2f} bits per weight); the quantizer stored other types, so read this row "
            f"by its composition, not as {self.requested}"
        )

    def to_json(self) -> dict[str, Any]:
        """The manifest's and the reply's `weights`: the parameters by type with the figures derived from them."""
        share = self.requested_share
        bits = self.bits_per_weight
        return {
            "types": {name: round(s, 4) for name, s in self.shares.items()},
            "parameters": dict(self.parameters),
            "bytes": self.weight_bytes,
            "bits_per_weight": None if bits is None else round(bits, 3),
            "requested": self.requested,
            "requested_types": list(self.requested_types),
            "requested_share": None if share is None else round(share, 4),
        }

    @classmethod
    def from_json(cls, data: Any, where: str) -> WeightComposition:
        """Read strictly (typed_json): the stored parameters, bytes and request; the derived figures (types,
        bits_per_weight, requested_share) are checked for their type and written again from these."""
        check_keys(data, where, {"parameters", "bytes", "requested", "requested_types"}, set(DERIVED))
        for name, hint in DERIVED.items():
            if name in data:
                read_value(hint, data[name], f"{where}.{name}")
        parameters = read_value(dict[str, int], data["parameters"], f"{where}.parameters")
        return cls(  # most parameters first again: the JSON's keys are sorted by name
            parameters=tuple(sorted(parameters.items(), key=lambda kv: (-kv[1], kv[0]))),
            weight_bytes=read_value(int, data["bytes"], f"{where}.bytes"),
            requested=read_value(str | None, data["requested"], f"{where}.requested"),
            requested_types=read_value(tuple[str, ...], data["requested_types"], f"{where}.requested_types"),
        )

    def summary(self) -> str:
        """`Q5_0 61%, Q8_0 33%, ...`: the types by share of the parameters, for tables."""
        return ", ".join(f"{name} {share:.0%}" for name, share in self.shares.items() if share >= 0.005) or "-"


def composition(
    counts: Mapping[str, int], weight_bytes: int, requested: str | None, requested_types: tuple[str, ...]
) -> WeightComposition:
    """A composition from per-type parameter counts (types with no parameters dropped, most first)."""
    ordered = tuple(sorted(((k, int(v)) for k, v in counts.items() if v), key=lambda kv: (-kv[1], kv[0])))
    return WeightComposition(ordered, int(weight_bytes), requested, requested_types)


def precision_requested(recipe: str | None, params: Mapping[str, str]) -> str | None:
    """The precision an ONNX / OpenVINO recipe asks for, in this module's type names (None if not known)."""
    if recipe in ("optimum-onnx-export", "optimum-openvino-export", "train-digits-mlp"):
        return "FP32"
    if recipe in ("ort-dynamic-int8", "ort-static-int8"):
        return "INT8"
    if recipe == "ort-int4-weight-only":
        return "INT4"
    if recipe == "openvino-fp16":
        return "FP16"
    if recipe == "nncf-weight-compression":
        return params.get("mode", "").split("_")[0].upper() or None  # int8_asym -> INT8, int4_sym -> INT4
    if recipe == "ort-genai-builder":
        return params.get("precision", "").upper() or None
    return None


def read_composition(fmt: str, path: Path, recipe: str | None, params: Mapping[str, str]) -> WeightComposition | None:
    """The variant's composition read from its files, or None for formats not read here (hf, mlx) or
    where the reading package is not installed (the runtime that needs it is absent too).
    """
    from benchharness.formats import FORMATS

    if fmt not in FORMATS:  # the shared corpus tokens, not a model format
        return None
    try:
        return FORMATS[fmt].weight_composition(path, precision_requested(recipe, params))
    except ImportError:
        return None
