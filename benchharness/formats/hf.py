"""Hugging Face checkpoints: the full-precision weights that the ONNX, OpenVINO and MLX exporters start from.

A team declares its own checkpoint folder as a model's `source`; it is checked here at start-up, and
its config.json says what kind of model it is.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from benchharness.errors import ConfigError, PrepareError
from benchharness.formats.base import Graph, check_folder
from benchharness.formats.composition import WeightComposition


def hf_from_gguf(source: Path | None, destination: Path, params: Mapping[str, Any], threads: int) -> None:
    """Recipe: transformers dequantizes a GGUF into an FP32 checkpoint (the same weights llama.cpp's F32 holds)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    assert source is not None
    torch.set_num_threads(threads)
    try:
        tokenizer = AutoTokenizer.from_pretrained(source.parent, gguf_file=source.name)
        model = AutoModelForCausalLM.from_pretrained(source.parent, gguf_file=source.name, torch_dtype=torch.float32)
    except (OSError, ValueError) as e:
        raise PrepareError(f"transformers could not read {source} as GGUF ({e}); check the file") from None
    model.save_pretrained(destination)
    tokenizer.save_pretrained(destination)
    # save_pretrained copies the GGUF it read as "tokenizer.model", which no SentencePiece reader can parse
    # (llama.cpp's converter tries it first and stops there).
    copied = destination / "tokenizer.model"
    if copied.is_file() and copied.open("rb").read(4) == b"GGUF":
        copied.unlink()
    if params.get("tokenizer") == "gguf":
        write_gguf_tokenizer(source, destination)


# llama.cpp's BPE pre-tokenizer names -> the Hugging Face pre-tokenizers that split text the same way.
BPE_PRE_TOKENIZERS = ("smollm", "gpt-2")


def write_gguf_tokenizer(source: Path, destination: Path) -> None:
    """The checkpoint's tokenizer rebuilt from the GGUF's own vocabulary, merges, special tokens and flags.

    transformers picks a GGUF's tokenizer class by architecture, so SmolLM2 (architecture llama, a
    GPT-2 BPE vocabulary) comes out as a Llama tokenizer: byte-fallback decoding, <|im_start|> as
    both BOS (added to every text) and EOS. llama.cpp's converter then writes it back as a
    SentencePiece vocabulary that tokenizes text differently from the model's. Rebuilt here as the
    model's own checkpoint has it (GPT2Tokenizer over a byte-level BPE), llama.cpp's converter
    recognises the pre-tokenizer by its hash and writes the same vocabulary the GGUF holds.
    """
    import gguf
    from tokenizers import AddedToken, Tokenizer, decoders, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    reader = gguf.GGUFReader(source)

    def field(name: str) -> Any:
        found = reader.get_field(name)
        return None if found is None else found.contents()

    model_type, pre = field("tokenizer.ggml.model"), field("tokenizer.ggml.pre")
    if model_type != "gpt2" or pre not in BPE_PRE_TOKENIZERS:
        raise PrepareError(
            f"{source.name}: tokenizer {model_type}/{pre} cannot be rebuilt as a Hugging Face tokenizer here "
            f"(BPE pre-tokenizers known: {', '.join(BPE_PRE_TOKENIZERS)}); drop tokenizer = 'gguf' to keep "
            "transformers' own conversion"
        )
    tokens: list[str] = field("tokenizer.ggml.tokens")
    types: list[int] = field("tokenizer.ggml.token_type")
    merges = [tuple(m.split(" ", 1)) for m in field("tokenizer.ggml.merges")]
    bpe = Tokenizer(models.BPE(vocab={t: i for i, t in enumerate(tokens)}, merges=merges))
    byte_level = pre_tokenizers.ByteLevel(add_prefix_space=False, trim_offsets=True, use_regex=True)
    splits = [pre_tokenizers.Digits(individual_digits=True)] if pre == "smollm" else []
    bpe.pre_tokenizer = pre_tokenizers.Sequence([*splits, byte_level])
    bpe.decoder = decoders.ByteLevel()
    control = int(gguf.TokenType.CONTROL)
    bpe.add_special_tokens(
        [AddedToken(t, special=True, normalized=False) for t, k in zip(tokens, types, strict=True) if k == control]
    )
    ids = {"bos": "bos", "eos": "eos", "unk": "unknown", "pad": "padding"}
    special = {
        role: tokens[i] for role, key in ids.items() if (i := field(f"tokenizer.ggml.{key}_token_id")) is not None
    }
    add_bos = bool(field("tokenizer.ggml.add_bos_token"))
    if add_bos and "bos" in special:
        bos = special["bos"]
        bpe.post_processor = processors.TemplateProcessing(
            single=f"{bos} $A", pair=f"{bos} $A {bos} $B", special_tokens=[(bos, tokens.index(bos))]
        )
    else:
        bpe.post_processor = processors.ByteLevel(trim_offsets=False)
    rebuilt = PreTrainedTokenizerFast(
        tokenizer_object=bpe,
        chat_template=field("tokenizer.chat_template"),
        **{f"{role}_token": token for role, token in special.items()},
    )
    for stale in ("tokenizer.json", "tokenizer_config.json", "special_tokens_map.json", "chat_template.jinja"):
        (destination / stale).unlink(missing_ok=True)
    rebuilt.save_pretrained(destination)
    config_path = destination / "tokenizer_config.json"
    config = json.loads(config_path.read_text(encoding="utf-8"))
    config |= {"tokenizer_class": "GPT2Tokenizer", "add_bos_token": add_bos, "add_eos_token": False}
    config_path.write_text(json.dumps(config, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


# What a checkpoint folder holds besides config.json: weights in one of these shapes, and a tokenizer.
WEIGHT_FILES = (
    "model.safetensors",
    "pytorch_model.bin",
    "model.safetensors.index.json",
    "pytorch_model.bin.index.json",
)
TOKENIZER_FILES = ("tokenizer.json", "tokenizer.model", "vocab.txt", "vocab.json")
# config.json's `architectures` suffixes -> model kind (benchharness.kinds), most specific first.
ARCHITECTURE_KINDS = (
    ("ForCausalLM", "causal-lm"),
    ("LMHeadModel", "causal-lm"),
    ("ForSequenceClassification", "classifier"),
    ("Model", "encoder"),
)


def check_checkpoint(path: Path, where: str) -> None:
    """Fail at start-up, with the fix, on a source that is not a Hugging Face checkpoint folder."""
    hint = "point source at the folder that save_pretrained() wrote (config.json, weights, tokenizer)"
    if not path.exists():
        raise ConfigError(f"{where} = '{path}' does not exist; {hint}")
    if not path.is_dir():
        raise ConfigError(
            f"{where} = '{path}' is a file, not a checkpoint folder; {hint}, "
            "or declare a .gguf / .onnx / .xml file under [models.NAME.variants]"
        )
    if not (path / "config.json").is_file():
        raise ConfigError(f"{where} = '{path}' has no config.json, so it is not a Hugging Face checkpoint; {hint}")
    if not any((path / name).is_file() for name in WEIGHT_FILES) and not any(path.glob("*.safetensors")):
        raise ConfigError(
            f"{where} = '{path}' has no weights ({' or '.join(WEIGHT_FILES[:2])}); copy the weights into it, {hint}"
        )
    if not any((path / name).is_file() for name in TOKENIZER_FILES):
        raise ConfigError(
            f"{where} = '{path}' has no tokenizer ({', '.join(TOKENIZER_FILES)}); "
            "save the tokenizer beside the weights (tokenizer.save_pretrained(folder))"
        )


def checkpoint_kind(path: Path) -> str | None:
    """The model kind a checkpoint's config.json declares through its `architectures`, or None if it says none."""
    try:
        config = json.loads((path / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError) as e:
        raise ConfigError(
            f"{path / 'config.json'} cannot be read as JSON ({e}); fix or re-save the checkpoint"
        ) from None
    architectures = config.get("architectures") if isinstance(config, dict) else None
    for architecture in architectures if isinstance(architectures, list) else []:
        for suffix, kind in ARCHITECTURE_KINDS:
            if isinstance(architecture, str) and architecture.endswith(suffix):
                return kind
    return None


@dataclass(frozen=True)
class HfFormat:
    """A Hugging Face checkpoint folder (config.json, weights, tokenizer): what the exporters start from."""

    name: str = "hf"
    suffixes: tuple[str, ...] = ()  # a folder: declared as a model's `source`, or told by format = 'hf'
    graph: Graph | None = None

    def model_file(self, variant: Path) -> Path:
        return variant

    def check(self, variant: Path) -> None:
        check_folder(self.name, variant, "config.json")

    def weight_composition(self, variant: Path, requested: str | None) -> WeightComposition | None:
        return None  # not read: no runtime loads it directly


FORMAT = HfFormat()
