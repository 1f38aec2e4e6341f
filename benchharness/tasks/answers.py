"""A team's prompts with expected answers, scored by greedy generation: exact match, and flips against the reference.

Each line of `[models.NAME.data] prompts` is `{"prompt": ..., "answer": ...}` (lm-evaluation-harness's
doc_to_text / doc_to_target). How an item is scored:

- The answer is stripped of surrounding whitespace and follows the prompt after a single space unless
  the prompt already ends in whitespace (lm-evaluation-harness's default `target_delimiter = " "`);
  the prompt's trailing whitespace moves to the answer before tokenizing, and the answer's tokens are
  those of prompt + answer after the prompt's own (its `_encode_pair`), so a tokenizer that merges a
  space with the next word sees the pair as it would see running text.
- The model generates greedily, as many new tokens as the answer has (the longest answer's tokens
  bound every generation), from the prompt's tokens; the item is right when the generated tokens are
  the answer's tokens. Generation stops at the first wrong token: what follows cannot make it right.
- No case folding or punctuation stripping (lm-evaluation-harness's `exact_match` with
  `ignore_case = false`, `ignore_punctuation = false`, its default): the comparison is of token ids
  from one tokenizer, so no backend's detokenizer decides what was said, and a variant that answers
  'paris' where its reference said 'Paris' has changed its answer, which is what flips count.

Besides the share of exact answers the task reports *flips* against the reference variant: the share
of items the reference got right and the variant wrong, and the other way round (Dutta et al. 2024,
"Accuracy is not all you need": two quantized models can keep the same accuracy while changing many
answers). The reference's per-item outcomes travel in a small JSON file beside its other outputs.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from benchharness.backends.base import LoadedModel
from benchharness.child_info import Answers, Flips
from benchharness.errors import CaseFailed, ModelError
from benchharness.evaldata import DataFile, read_prompts
from benchharness.readings import Reading

OUTCOMES = "answer_exact_per_item"  # round_samples key: 1 exact, 0 not, per prompt in file order
METRIC = "answer_exact_match"
FLIP_METRICS = (("answer_flips_right_to_wrong", "fraction"), ("answer_flips_wrong_to_right", "fraction"))


@dataclass(frozen=True)
class Item:
    """One prompt as token ids and the answer's ids the greedy continuation must reproduce."""

    prompt: tuple[int, ...]
    answer: tuple[int, ...]


def encode_pair(tokenize: Callable[[str], list[int]], prompt: str, answer: str) -> Item:
    """lm-evaluation-harness's pair encoding with its default one-space delimiter (see the module docstring)."""
    target = answer.strip()
    context = prompt.rstrip()
    moved = prompt[len(context) :]
    continuation = (moved or " ") + target
    whole = tokenize(context + continuation)
    context_ids = tokenize(context)
    return Item(tuple(context_ids), tuple(whole[len(context_ids) :]))


def generated_is_exact(model: LoadedModel, item: Item) -> bool:
    """Greedy generation from the prompt reproduces the answer's tokens (stopping at the first wrong one)."""
    generate = getattr(model, "generate", None)
    if callable(generate):  # a pipeline that generates whole sequences (OpenVINO GenAI)
        return tuple(generate(item.prompt, len(item.answer))[: len(item.answer)]) == item.answer
    token = model.prefill(item.prompt)
    for position, expected in enumerate(item.answer):
        if token != expected:
            return False
        if position + 1 < len(item.answer):
            token = model.decode(token)
    return True


def items(model: LoadedModel, file: DataFile, longest: int) -> list[Item]:
    """The file's prompts tokenized by the model (the file re-checked against its start-up hash)."""
    encoded = []
    for number, (prompt, answer) in enumerate(read_prompts(file), 1):
        item = encode_pair(model.tokenize, prompt, answer)
        if not item.answer:
            raise CaseFailed(f"data.prompts = '{file.path}' item {number}: the answer tokenizes to nothing; fix it")
        if len(item.prompt) + len(item.answer) > longest:
            raise CaseFailed(
                f"data.prompts = '{file.path}' item {number} is {len(item.prompt)} + {len(item.answer)} tokens, "
                f"over accuracy.n_ctx = {longest}; shorten it or raise accuracy.n_ctx"
            )
        encoded.append(item)
    return encoded


def flips(variant: Sequence[bool], reference: Sequence[bool]) -> tuple[float, float]:
    """(share right in the reference and wrong in the variant, share wrong in the reference and right in the variant)."""
    if len(variant) != len(reference) or not variant:
        raise ValueError(f"{len(variant)} outcomes against the reference's {len(reference)}")
    n = len(variant)
    lost = sum(1 for v, r in zip(variant, reference, strict=True) if r and not v)
    gained = sum(1 for v, r in zip(variant, reference, strict=True) if v and not r)
    return lost / n, gained / n


def _outcomes_path(reference: Path) -> Path:
    return reference.with_suffix(".answers.json")


def evaluate(
    model: LoadedModel,
    file: DataFile,
    *,
    longest: int,
    write_reference: Path | None,
    read_reference: Path | None,
) -> tuple[list[Reading], dict[str, list[float]], Answers]:
    """Exact-match readings (and flips against the reference), per-item outcomes, and what the results record."""
    scored = items(model, file, longest)
    try:
        exact = [generated_is_exact(model, item) for item in scored]
    except ModelError as e:
        raise CaseFailed(f"greedy generation for data.prompts failed: {e}") from None
    n = len(exact)
    source = f"{file.describe()}, greedy generation, exact match of the answer's tokens"
    readings = [Reading(METRIC, "fraction", sum(exact) / n, None, n, source)]
    info = Answers(
        prompts=n,
        max_new_tokens=max(len(i.answer) for i in scored),
        answer_tokens=sum(len(i.answer) for i in scored),
    )
    if write_reference is not None:
        _outcomes_path(write_reference).write_text(json.dumps({"sha256": file.sha256, "exact": exact}))
    why = "this is the reference variant (flips are counted against it)"
    stored = None
    if read_reference is not None:
        try:
            stored = json.loads(_outcomes_path(read_reference).read_text())
        except FileNotFoundError:
            why = "the reference's answers were not recorded (its accuracy was not scored); run the reference again"
    if stored is not None:
        if stored["sha256"] != file.sha256 or len(stored["exact"]) != n:
            why = "the reference was scored on other prompts; run the reference again"
        else:
            lost, gained = flips(exact, stored["exact"])
            for (name, unit), value in zip(FLIP_METRICS, (lost, gained), strict=True):
                readings.append(Reading(name, unit, value, None, n, source + "; against the reference's answers"))
            info = replace(info, flips=Flips(right_to_wrong=round(lost * n), wrong_to_right=round(gained * n), items=n))
            return readings, {OUTCOMES: [float(x) for x in exact]}, info
    readings += [Reading.unavailable(name, unit, why) for name, unit in FLIP_METRICS]
    return readings, {OUTCOMES: [float(x) for x in exact]}, info


def timed_prompt_text(file: DataFile) -> str:
    """The text the timed workload's prompt tokens come from: the file's prompts in order, joined by blank lines."""
    return "\n\n".join(prompt for prompt, _ in read_prompts(file))
