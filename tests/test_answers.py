"""The prompts-with-answers task: lm-evaluation-harness's pair encoding, greedy exact match, flips."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path

import pytest

from benchharness.child_info import Flips
from benchharness.errors import CaseFailed
from benchharness.evaldata import DataFile, load
from benchharness.settings import DataSource
from benchharness.tasks import answers


class Chars:
    """A model whose tokens are characters and whose greedy continuation is a fixed text per prompt."""

    n_vocab = 256

    def __init__(self, replies: dict[str, str], bos: int | None = None) -> None:
        self.replies = replies
        self.bos = bos
        self.sequence: list[int] = []
        self.steps = 0

    def tokenize(self, text: str) -> list[int]:
        return ([] if self.bos is None else [self.bos]) + [ord(c) for c in text]

    def _next(self) -> int:
        self.steps += 1
        text = "".join(chr(t) for t in self.sequence if t != self.bos)
        for prompt, reply in self.replies.items():
            if text.startswith(prompt):
                done = text[len(prompt) :]
                return ord(reply[len(done)]) if len(done) < len(reply) else ord("\n")
        return ord("?")

    def prefill(self, tokens: Sequence[int]) -> int:
        self.sequence = list(tokens)
        return self._next()

    def decode(self, token: int) -> int:
        self.sequence.append(token)
        return self._next()

    def score(self, tokens: Sequence[int], first: int):  # pragma: no cover - not used by this task
        raise AssertionError

    def close(self) -> None:
        pass


def test_pairs_are_encoded_as_lm_evaluation_harness_encodes_them() -> None:
    model = Chars({})
    # The answer is stripped and follows after one space (target_delimiter " ")...
    assert answers.encode_pair(model.tokenize, "Q: capital?\nA:", "  Paris \n") == answers.Item(
        tuple(map(ord, "Q: capital?\nA:")), tuple(map(ord, " Paris"))
    )
    # ...unless the prompt ends in whitespace, which moves to the answer (_encode_pair).
    item = answers.encode_pair(model.tokenize, "Q: capital?\nA: ", "Paris")
    assert item.prompt == tuple(map(ord, "Q: capital?\nA:")) and item.answer == tuple(map(ord, " Paris"))
    with_bos = answers.encode_pair(Chars({}, bos=1).tokenize, "Q:", "x")
    assert with_bos.prompt[0] == 1 and with_bos.answer == (ord(" "), ord("x"))


def test_greedy_generation_is_exact_only_when_it_reproduces_the_answer_and_stops_at_the_first_wrong_token() -> None:
    model = Chars({"2+2=": " 4", "capital:": " Paris, France", "colour:": " blue"})
    assert answers.generated_is_exact(model, answers.encode_pair(model.tokenize, "2+2=", "4"))
    # Right answer followed by more text: the answer's tokens were generated, as a stop sequence would cut.
    assert answers.generated_is_exact(model, answers.encode_pair(model.tokenize, "capital:", "Paris"))
    model.steps = 0
    assert not answers.generated_is_exact(model, answers.encode_pair(model.tokenize, "colour:", "Blue sky"))
    assert model.steps == 2  # ' ' right, 'b' != 'B': no further decoding
    assert not answers.generated_is_exact(model, answers.encode_pair(model.tokenize, "capital:", "paris"))


def test_flips_count_each_direction_separately() -> None:
    assert answers.flips([True, False, True, False], [True, True, False, False]) == (0.25, 0.25)
    with pytest.raises(ValueError, match="3 outcomes against the reference's 4"):
        answers.flips([True] * 3, [True] * 4)


def write_prompts(path: Path, items: list[tuple[str, str]]) -> Path:
    path.write_text("".join(json.dumps({"prompt": p, "answer": a}) + "\n" for p, a in items))
    return path


def test_the_reference_leaves_its_answers_and_a_variant_reports_flips_against_them(tmp_path: Path) -> None:
    questions = [(f"q{i}:", f"a{i}") for i in range(12)]
    data = load(DataSource(prompts=write_prompts(tmp_path / "p.jsonl", questions)), "causal-lm", "data")
    assert data.prompts is not None and data.prompts.items == 12 and data.prompts.item == "prompt"
    reference = Chars({p: " " + a for p, a in questions[:10]})  # 10 of 12 right
    outputs = tmp_path / "ref.outputs.npy"
    readings, samples, info = answers.evaluate(
        reference, data.prompts, longest=64, write_reference=outputs, read_reference=None
    )
    by_name = {r.name: r for r in readings}
    assert by_name["answer_exact_match"].value == pytest.approx(10 / 12) and by_name["answer_exact_match"].n == 12
    assert by_name["answer_flips_right_to_wrong"].value is None
    assert "reference variant" in (by_name["answer_flips_right_to_wrong"].unavailable_reason or "")
    assert samples[answers.OUTCOMES] == [1.0] * 10 + [0.0] * 2 and info.max_new_tokens == 4  # " a10"
    # Same accuracy, other answers: 2 lost, 2 gained, which the accuracy alone hides.
    variant = Chars({p: " " + a for p, a in questions[2:]})
    readings, _, info = answers.evaluate(
        variant, data.prompts, longest=64, write_reference=None, read_reference=outputs
    )
    by_name = {r.name: r for r in readings}
    assert by_name["answer_exact_match"].value == pytest.approx(10 / 12)
    assert by_name["answer_flips_right_to_wrong"].value == pytest.approx(2 / 12)
    assert by_name["answer_flips_wrong_to_right"].value == pytest.approx(2 / 12)
    assert info.flips == Flips(right_to_wrong=2, wrong_to_right=2, items=12)


def test_a_prompt_longer_than_the_scoring_context_fails_the_case_naming_the_item(tmp_path: Path) -> None:
    items = [("short:", "a")] * 10 + [("x" * 80 + ":", "a")]
    data = load(DataSource(prompts=write_prompts(tmp_path / "p.jsonl", items)), "causal-lm", "data")
    assert data.prompts is not None
    with pytest.raises(CaseFailed, match=r"p\.jsonl' item 11 is 81 \+ 2 tokens, over accuracy\.n_ctx = 64; shorten"):
        answers.evaluate(Chars({}), data.prompts, longest=64, write_reference=None, read_reference=None)


def test_the_timed_prompts_are_the_files_prompts_joined_by_blank_lines(tmp_path: Path) -> None:
    data = load(
        DataSource(prompts=write_prompts(tmp_path / "p.jsonl", [(f"p{i}", "a") for i in range(10)])), "causal-lm", "d"
    )
    assert isinstance(data.prompts, DataFile)
    assert answers.timed_prompt_text(data.prompts) == "\n\n".join(f"p{i}" for i in range(10))
