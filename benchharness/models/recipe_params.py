"""A recipe's parameters, declared once: type, allowed values, default and meaning.

The one declaration (a tuple of `Param` on each recipe in models/recipes.py) drives everything
that reads a parameter, so none of them can drift from another:

- start-up validation of a TOML declaration (`declared`): an unknown name, a wrong type or a value
  out of range is a one-line ConfigError naming the value and what would work;
- the cache key: `declared` returns each given value as canonical text (`128`, `0.8`, `true`,
  the choice's own spelling), so `group_size = 128` and the built-in `group_size = "128"` key alike;
- the recipe function's reading (`typed`): canonical text back to typed values, defaults filled in,
  run in the child before the function is called;
- the README's recipe table (`markdown_table`), which a test compares with the README.

Only the values given are keyed, not the defaults: the built-in variants' cache keys stay what they
were. A default that changes here changes what a recipe makes without a new key, so a default is
the tool's own (which the tool's version, already in the key, follows) or never changed.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

Value = str | int | float | bool
_TYPE_WORDS = {str: "a string", int: "an integer", float: "a number", bool: "true or false"}


@dataclass(frozen=True)
class Param:
    """One parameter of a recipe.

    `default` None with `required` False means "left out" (the recipe passes nothing; `absent`
    says what that means, e.g. the tool's own default). `by_kind` gives a default per model
    kind, filled in at start-up (so it is keyed); `noun` names a valid value in errors
    ("a llama.cpp quantization type").
    """

    name: str
    type: type
    doc: str
    default: Value | None = None
    choices: tuple[Value, ...] = ()
    low: float | None = None
    high: float | None = None
    required: bool = False
    by_kind: tuple[tuple[str, str], ...] = ()
    noun: str = ""
    absent: str = "the tool's default"  # what leaving it out means, where `default` is None
    file: bool = False  # a path, relative to the file that declares it (made absolute at start-up)

    def from_toml(self, value: object, shown: str) -> Value:
        """A value as TOML gave it, checked against the type, choices and range; ValueError says why."""
        if self.type is float and isinstance(value, int) and not isinstance(value, bool):
            value = float(value)
        if not isinstance(value, self.type) or (self.type is not bool and isinstance(value, bool)):
            raise ValueError(
                f"{shown} = {_show(value)} must be {_TYPE_WORDS[self.type]}; e.g. {shown} = {self.example()}"
            )
        return self._checked(value, shown)  # type: ignore[arg-type]

    def from_text(self, text: str, shown: str) -> Value:
        """A value from its canonical text (a built-in variant's or a manifest's params)."""
        value: Value
        try:
            if self.type is bool:
                if text not in ("true", "false"):
                    raise ValueError
                value = text == "true"
            elif self.type is int:
                value = int(text)
            elif self.type is float:
                value = float(text)
            else:
                value = text
        except ValueError:
            raise ValueError(f"{shown} = {text!r} must be {_TYPE_WORDS[self.type]} ({self.doc})") from None
        return self._checked(value, shown)

    def _checked(self, value: Value, shown: str) -> Value:
        if self.choices:
            for choice in self.choices:
                same = choice.lower() == value.lower() if isinstance(value, str) and isinstance(choice, str) else False
                if choice == value or same:
                    return choice  # the declared spelling: q4_k_m and Q4_K_M key alike
            noun = self.noun or f"a valid {self.name}"
            raise ValueError(
                f"{shown} = {_show(value)} is not {noun}; valid: {', '.join(map(canonical, self.choices))}"
            )
        if isinstance(value, int | float) and not isinstance(value, bool):
            low = -math.inf if self.low is None else self.low
            high = math.inf if self.high is None else self.high
            if not math.isfinite(value) or not low <= value <= high:
                raise ValueError(f"{shown} = {_show(value)} is out of range; it must be in {self.range_text()}")
        return value

    def range_text(self) -> str:
        low = "" if self.low is None else f"{self.low:g}"
        high = "" if self.high is None else f"{self.high:g}"
        return f"{low}..{high}"

    def example(self) -> str:
        if self.choices:
            return _show(self.choices[0])
        if self.default is not None:
            return _show(self.default)
        return {str: '"..."', int: "1", float: "1.0", bool: "true"}[self.type]

    def allowed_phrase(self) -> str:
        """What values work, for a message: `valid: a, b` or `e.g. name = 1.0`."""
        if self.choices:
            return f"valid: {', '.join(map(canonical, self.choices))}"
        return f"e.g. {self.name} = {self.example()}"

    def allowed_text(self) -> str:
        """What values are allowed, for the README table."""
        if self.choices:
            return ", ".join(f"`{canonical(c)}`" for c in self.choices)
        word = _TYPE_WORDS[self.type]
        if self.low is not None or self.high is not None:
            return f"{word} in {self.range_text()}"
        return word

    def default_text(self) -> str:
        if self.by_kind:
            return "by kind: " + ", ".join(f"{kind} `{canonical(value)}`" for kind, value in self.by_kind)
        if self.required:
            return "required"
        if self.default is None:
            return self.absent
        return f"`{canonical(self.default)}`"


def canonical(value: Value) -> str:
    """The text a value is keyed and passed by: `true`, `128`, `0.8`, or the string itself."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, float):
        return repr(value)
    return str(value)


def _show(value: object) -> str:
    """A value as TOML reads it, for messages and the README ('text' is a TOML literal string)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    return repr(value)


def names_text(params: tuple[Param, ...]) -> str:
    return ", ".join(p.name for p in params) if params else "none (it takes no parameters)"


def declared(
    params: tuple[Param, ...],
    raw: Mapping[str, object],
    kind: str,
    shown: Mapping[str, str] | None = None,
    root: Path | None = None,
) -> tuple[tuple[str, str], ...]:
    """A TOML declaration's parameters as sorted canonical text, by-kind defaults filled; ValueError says why.

    `shown` maps a parameter to the key the user wrote (`quantize` for llama-quantize's `ftype`); `root` is
    the folder of the file that declares them, which a file parameter's relative path starts from.
    """
    by_name = {p.name: p for p in params}
    shown = shown or {}
    out: dict[str, str] = {}
    for name, value in raw.items():
        if name not in by_name:
            raise ValueError(f"unknown parameter {name!r}; its parameters: {names_text(params)}")
        out[name] = canonical(by_name[name].from_toml(value, shown.get(name, name)))
        if by_name[name].file and root is not None:
            out[name] = str((root / out[name]).resolve())
    for p in params:
        if p.name not in out and (kind_default := dict(p.by_kind).get(kind)) is not None:
            out[p.name] = kind_default
        elif p.name not in out and p.required:
            raise ValueError(f"{shown.get(p.name, p.name)} is required ({p.doc}); {p.allowed_phrase()}")
    return tuple(sorted(out.items()))


def typed(params: tuple[Param, ...], given: Mapping[str, str]) -> dict[str, Any]:
    """Stored parameters as typed values, each default filled in (None: left to the tool); ValueError says why."""
    by_name = {p.name: p for p in params}
    for name in given:
        if name not in by_name:
            raise ValueError(f"unknown parameter {name!r}; its parameters: {names_text(params)}")
    values: dict[str, Any] = {}
    for p in params:
        if p.name in given:
            values[p.name] = p.from_text(given[p.name], p.name)
        elif p.required:
            raise ValueError(f"{p.name} is required ({p.doc}); {p.allowed_phrase()}")
        else:
            values[p.name] = p.default
    return values
