"""GGUF files: a cheap validity check, llama.cpp's own converter and quantizer (run inside the child process)."""

from __future__ import annotations

import json
import re
import struct
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchharness.errors import ModelError, PrepareError
from benchharness.formats.base import Graph
from benchharness.formats.composition import WeightComposition, composition

GGUF_MAGIC = b"GGUF"

# llama.cpp's LLAMA_FTYPE_* values for the types the harness offers by name.
FTYPES: dict[str, int] = {
    "F32": 0,
    "F16": 1,
    "Q4_0": 2,
    "Q4_1": 3,
    "Q8_0": 7,
    "Q5_0": 8,
    "Q5_1": 9,
    "Q2_K": 10,
    "Q3_K_S": 11,
    "Q3_K_M": 12,
    "Q3_K_L": 13,
    "Q4_K_S": 14,
    "Q4_K_M": 15,
    "Q5_K_S": 16,
    "Q5_K_M": 17,
    "Q6_K": 18,
    "BF16": 32,
}


def check_gguf(path: Path) -> None:
    """Fail early, with the fix, on a file that is missing, empty or not GGUF at all.

    Truncation deeper in the file is caught by llama.cpp's own bounds checks at load time.
    """
    if path.is_dir():
        raise ModelError(f"model file {path} is a directory, not a GGUF file; point the config at the .gguf file")
    if not path.is_file():
        raise ModelError(f"model file {path} does not exist; run the prepare step or fix the path")
    with path.open("rb") as f:
        header = f.read(24)
    if len(header) < 24 or header[:4] != GGUF_MAGIC:
        raise ModelError(
            f"{path} is not a GGUF file (bad magic {header[:4]!r}, {path.stat().st_size} bytes); "
            "re-download or re-prepare it"
        )
    version = struct.unpack("<I", header[4:8])[0]
    if version not in (2, 3):
        raise ModelError(f"{path} has GGUF version {version}; this harness reads versions 2 and 3")


def requested_types(ftype: str) -> tuple[str, ...]:
    """The tensor type a llama.cpp file type is named for: Q4_K for Q4_K_M / Q4_K_S, Q8_0 for Q8_0.

    A K-quant mix (_S, _M, _L) also uses a wider type on a few tensors by design (Q6_K in
    Q4_K_M); those are the minority, so the named type alone is what "mostly" is measured by.
    Empty where the name is not a tensor type even without its suffix (IQ2_M, ...): no warning then.
    """
    import gguf

    known = set(gguf.GGMLQuantizationType.__members__)
    for name in (ftype, re.sub(r"_(S|M|L)$", "", ftype)):
        if name in known:
            return (name,)
    return ()


def weight_composition(path: Path) -> WeightComposition:
    """Parameters per tensor type, bytes (GGML_QUANT_SIZES per block) and the file's own type (general.file_type)."""
    import gguf

    reader = gguf.GGUFReader(path)
    counts: dict[str, int] = {}
    stored = 0
    for tensor in reader.tensors:
        ggml_type = gguf.GGMLQuantizationType(int(tensor.tensor_type))
        block, type_bytes = gguf.GGML_QUANT_SIZES[ggml_type]
        counts[ggml_type.name] = counts.get(ggml_type.name, 0) + int(tensor.n_elements)
        stored += int(tensor.n_elements) // block * type_bytes
    field = reader.get_field("general.file_type")
    requested = None
    if field is not None:
        name = gguf.LlamaFileType(int(field.parts[field.data[0]][0])).name
        requested = re.sub(r"^(ALL|MOSTLY)_", "", name)
    return composition(counts, stored, requested, requested_types(requested) if requested else ())


def ftype_of(name: str) -> int:
    try:
        return FTYPES[name.upper()]
    except KeyError:
        raise PrepareError(f"unknown llama.cpp quantization {name!r}; valid: {', '.join(FTYPES)}") from None


def llama_quantize(source: Path | None, destination: Path, params: Mapping[str, Any], threads: int) -> None:
    """Recipe: llama_model_quantize(source -> destination) with requantization allowed.

    Requantizing is how the shipped Q4_1 weights become the F32 reference (dequantized exactly),
    and how the other types are produced from that reference.
    """
    import llama_cpp as ll

    assert source is not None
    check_gguf(source)
    quantize = params["ftype"]
    options = ll.llama_model_quantize_default_params()
    options.nthread = threads
    options.ftype = ftype_of(quantize)
    options.allow_requantize = True
    status = ll.llama_model_quantize(str(source).encode(), str(destination).encode(), options)
    if status != 0 or not destination.is_file():
        raise PrepareError(
            f"llama.cpp's quantizer failed ({status}) turning {source.name} into {quantize}; "
            "check the source file (re-run prepare) and the child output"
        )


def convert_hf(source: Path | None, destination: Path, params: Mapping[str, Any], threads: int) -> None:
    """Recipe: llama.cpp's convert_hf_to_gguf.py writes a checkpoint folder as one GGUF of `outtype` (f32).

    It runs here, in the recipe's child process, from the folder `benchharness fetch-llama-converter`
    filled for the installed llama-cpp-python, with that sdist's own gguf-py first on the path (the
    gguf package installed from PyPI may be older or newer than the converter expects).
    """
    import runpy

    import torch

    from benchharness.formats import llamacpp_converter

    assert source is not None
    found = llamacpp_converter.status()
    if found.folder is None:
        raise PrepareError(str(found.missing))
    torch.set_num_threads(threads)
    for name in [m for m in sys.modules if m == "gguf" or m.startswith("gguf.")]:
        del sys.modules[name]  # this child reads GGUF with the converter's gguf-py from here on
    sys.path[:0] = [str(found.folder / "gguf-py"), str(found.folder)]
    sys.argv = [
        "convert_hf_to_gguf.py",
        str(source),
        "--outtype",
        str(params["outtype"]),
        "--outfile",
        str(destination),
    ]
    try:
        runpy.run_path(str(found.folder / "convert_hf_to_gguf.py"), run_name="__main__")
    except SystemExit as e:
        if e.code not in (None, 0):
            raise PrepareError(
                f"llama.cpp's convert_hf_to_gguf.py exited {e.code} on {source}; its output above says why "
                "(an architecture this llama.cpp does not convert, or an unrecognised tokenizer)"
            ) from None
    except Exception as e:  # the converter's own faults are many (NotImplementedError, sentencepiece's, KeyError)
        raise PrepareError(
            f"llama.cpp's convert_hf_to_gguf.py could not convert {source} ({type(e).__name__}: {e}); "
            "check the checkpoint's tokenizer and architecture, or declare a .gguf file of it as a variant"
        ) from None
    if not destination.is_file():
        raise PrepareError(f"llama.cpp's convert_hf_to_gguf.py wrote no {destination.name} from {source}")
    check_gguf(destination)


# convert_hf_to_gguf.py --outtype values kept: the full-precision ones a reference is made of.
CONVERT_OUTTYPES = ("f32", "f16", "bf16")


def tokenize_corpus(source: Path | None, destination: Path, params: Mapping[str, Any], threads: int) -> None:
    """Recipe: the accuracy corpus as token ids, by the GGUF's own tokenizer (llama.cpp, vocabulary only).

    Every backend of the model reads these ids instead of tokenizing the corpus itself, so top-1
    and KL figures are comparable row by row across runtimes (transformers' converted tokenizer
    splits whitespace differently from llama.cpp from token 11,659 of pydoc_data.topics on). The
    GGUF is what the model ships as, so its tokenizer is the model's own.
    """
    import llama_cpp as ll
    import numpy as np

    from benchharness.evaldata import EvalData
    from benchharness.protocol import decode
    from benchharness.tasks.next_token import corpus_digest, corpus_text

    assert source is not None
    # The model's declared text files (their start-up hashes re-checked), or the built-in corpus.
    declared = decode(EvalData, json.loads(params["data"])) if params.get("data") else None
    text = corpus_text(declared)
    if corpus_digest(text) != params["corpus"]:
        raise PrepareError("the accuracy corpus changed while preparing; run the session again")
    model_params = ll.llama_model_default_params()
    model_params.vocab_only = True
    model = ll.llama_model_load_from_file(str(source).encode(), model_params)
    if not model:
        raise PrepareError(f"llama.cpp could not read the vocabulary of {source}; check the file")
    try:
        vocab = ll.llama_model_get_vocab(model)
        data = text.encode("utf-8")
        capacity = len(data) + 8
        buffer = (ll.llama_token * capacity)()
        # add_special=True: the model's own beginning-of-sequence rule; parse_special=False: text is text.
        n = ll.llama_tokenize(vocab, data, len(data), buffer, capacity, True, False)
        if n < 0:
            raise PrepareError(f"llama.cpp's tokenizer needed {-n} slots for {len(data)} bytes")
        with destination.open("wb") as out:
            np.save(out, np.asarray(buffer[:n], dtype=np.int32))
    finally:
        ll.llama_model_free(model)


@dataclass(frozen=True)
class GgufFormat:
    """llama.cpp's single-file format: the variant is the model file."""

    name: str = "gguf"
    suffixes: tuple[str, ...] = (".gguf",)
    graph: Graph = "gguf"

    def model_file(self, variant: Path) -> Path:
        return variant

    def check(self, variant: Path) -> None:
        check_gguf(variant)

    def weight_composition(self, variant: Path, requested: str | None) -> WeightComposition | None:
        return weight_composition(variant)


FORMAT = GgufFormat()
