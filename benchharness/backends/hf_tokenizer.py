"""The tokenizer that travels with an exported variant, used the way llama.cpp tokenizes.

llama.cpp adds a beginning-of-sequence token only where the GGUF asks for one (SmolLM2's does
not); the Hugging Face tokenizer adds one by default. Encoding without special tokens makes the
two agree on the prompt, but not on all of the corpus: their whitespace pre-tokenization differs
(on pydoc_data.topics the first difference is at token 11,659, where llama.cpp keeps "\n   " as
one token and transformers' converted tokenizer splits it), so accuracy windows past that point
score slightly different token streams on llama.cpp and on the other backends.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from benchharness.errors import ModelError


def load_tokenizer(variant: Path) -> Any:
    """The `tokenizers.Tokenizer` in a variant's folder (or beside its file), or a ModelError with the fix."""
    from tokenizers import Tokenizer

    folder = variant if variant.is_dir() else variant.parent
    path = folder / "tokenizer.json"
    if not path.is_file():
        raise ModelError(f"{folder} has no tokenizer.json; re-prepare the variant (the exporters copy it)")
    try:
        return Tokenizer.from_file(str(path))
    except Exception as e:  # tokenizers raises its own Exception for a malformed file
        raise ModelError(f"{path} is not a valid tokenizer ({str(e)[:200]}); re-prepare the variant") from None


class VariantTokenizer:
    def __init__(self, variant: Path) -> None:
        self._tokenizer = load_tokenizer(variant)

    def __call__(self, text: str) -> list[int]:
        return list(self._tokenizer.encode(text, add_special_tokens=False).ids)
