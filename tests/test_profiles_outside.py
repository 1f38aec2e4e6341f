"""Workload profiles as a user meets them: a tiny project on real llama.cpp (SmolLM2 Q4_0), run by a child pytest.

Short shapes keep each run to about a minute: a 256-token "long" prompt, three 16-token chat turns, a sweep of
two lengths, and a 30 s sustained run with a planted slowdown (benchmarks/planted_backend.py: a real llama.cpp
model whose decode steps sleep once PLANTED_AFTER_S seconds have passed since it was loaded).
"""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from run_documents import skip_beside_other_work

pytest.importorskip("llama_cpp", reason="pip install 'benchharness[llamacpp]'")

pytestmark = pytest.mark.e2e  # real backends on real models (tests/conftest.py: the markers)

SUITE = """
import pytest

pytestmark = pytest.mark.benchsuite("p")

def test_generation(bench_case, bench):
    bench.check(bench_case)
"""

PYPROJECT = """
[tool.benchharness]
threads = 2
[tool.benchharness.workload]
prompt_tokens = 16
gen_tokens = 8
warmup_rounds = 1
min_rounds = 2
min_time_s = 0.2
PROFILES
[tool.benchharness.accuracy]
n_ctx = 64
windows = 1
[tool.benchharness.suites.p]
models = ["smollm2-135m"]
backends = ["BACKEND"]
variants = ["f32", "q4_0"]
[tool.benchharness.suites.p.gates]
speedup = false
memory_reduction = false
"""

PLANTED = (Path(__file__).resolve().parents[1] / "benchmarks" / "planted_backend.py").read_text()
ARGS = ("--device=cpu", "-p", "no:cacheprovider", "--variant=q4_0", "--gate=accuracy_retained=0.5", "--no-baseline")


def project(pytester: pytest.Pytester, backend: str, profiles: str) -> None:
    pytester.makepyfile(test_p=SUITE, plantedbackend=PLANTED)
    pytester.makeconftest("import plantedbackend  # registers llamacpp-planted\n")
    text = PYPROJECT.replace("PROFILES", profiles).replace("BACKEND", backend)
    pytester.path.joinpath("pyproject.toml").write_text(text)


def case(pytester: pytest.Pytester, case_id: str) -> dict:
    data = json.loads((pytester.path / "reports" / "latest.json").read_text())
    return next(c for c in data["cases"] if c["id"] == case_id)


def test_each_profile_is_measured_and_shown_under_its_own_label(pytester: pytest.Pytester) -> None:
    project(
        pytester,
        "llamacpp",
        'profiles = ["short", "long-prompt", "chat", "ttft-sweep"]\nlong_prompt_tokens = 256\nlong_gen_tokens = 8\n'
        "chat_turns = 3\nchat_turn_tokens = 16\nttft_sweep = [16, 128]",
    )
    result = pytester.runpytest_subprocess(*ARGS, timeout=900)
    result.assert_outcomes(passed=1)
    q4 = case(pytester, "smollm2-135m-q4_0-llamacpp-cpu")
    r = q4["readings"]
    for name in ("ttft_ms@long-prompt", "decode_tok_per_s@long-prompt", "ttft_ms@chat-t3", "ttft_ms@pp128"):
        assert r[name]["value"] > 0, (name, r[name])
    # A longer prompt takes longer to the first token: 256 tokens against 16, 128 against 16.
    assert r["ttft_ms@long-prompt"]["value"] > r["ttft_ms"]["value"]
    assert r["ttft_ms@pp128"]["value"] > r["ttft_ms@pp16"]["value"]
    assert q4["info"]["profiles"]["chat"].startswith("3 turns, KV cache kept: turn 1: pp16 @ d0, tg8 @ d16; turn 2:")
    result.stdout.fnmatch_lines(
        [
            "profiles of smollm2-135m-q4_0-llamacpp-cpu (medians of rounds; the headline, short, is the table's row):",
            "  long-prompt: TTFT * ms, prefill * tok/s, decode * tok/s [[]pp256 + tg8[]]",
            "  chat: TTFT per turn * ms / * ms / * ms; decode per turn * tok/s / * tok/s / * tok/s [[]3 turns*",
            "  ttft-sweep: TTFT pp16 * ms, pp128 * ms",
        ]
    )
    html = (pytester.path / "reports" / "latest.html").read_text()
    assert "ttft_ms@chat-t2" in html and "prefill_tok_per_s@long-prompt" in html


def test_sustained_load_finds_a_planted_slowdown(pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch) -> None:
    project(
        pytester, "llamacpp-planted", 'profiles = ["short", "sustained"]\nsustained_s = 30\nsustained_interval_s = 3'
    )
    monkeypatch.setenv("PLANTED_ONLY", "q4_0")  # the F32 reference runs as it was
    monkeypatch.setenv("PLANTED_DELAY_S", "0.1")  # 10x a quiet Q4_0 SmolLM2 decode step here, 2-3x a loaded one
    monkeypatch.setenv("PLANTED_AFTER_S", "15")  # since load: the headline takes a second or a few of it
    result = pytester.runpytest_subprocess(*ARGS, timeout=900)
    result.assert_outcomes(passed=1)
    # Beside other work a round of 8 tokens can outlast the first window, leaving nothing to read the drop against.
    skip_beside_other_work(pytester.path / "reports" / "latest.json", limit=0.5)
    q4 = case(pytester, "smollm2-135m-q4_0-llamacpp-planted-cpu")
    run = q4["info"]["sustained"]
    assert len(run["intervals"]) == 10 and run["window_s"] == 7.5
    # After the first window (its reference) and before the run's end: where the delay began, give or take how
    # long the headline took before the run.
    assert run["drop_at_s"] is not None and 6.0 <= run["drop_at_s"] <= 27.0, run
    start, steady = q4["readings"]["decode_tok_per_s@sustained-start"], q4["readings"]["decode_tok_per_s@sustained"]
    assert steady["value"] < 0.6 * start["value"], (start, steady)
    result.stdout.fnmatch_lines(
        ["  sustained: first 7.5 s * tok/s, steady (last 7.5 s) * tok/s (-*%); dropped more than 10% below the start*"]
    )
    html = (pytester.path / "reports" / "latest.html").read_text()
    assert "Sustained load: decode tok/s per interval" in html


def test_a_profile_list_that_does_not_start_with_the_headline_is_refused_at_start_up(pytester: pytest.Pytester) -> None:
    project(pytester, "llamacpp", 'profiles = ["chat", "short"]')
    result = pytester.runpytest_subprocess(*ARGS, timeout=120)
    assert result.ret == 4
    assert (
        "[tool.benchharness].workload.profiles = ['chat', 'short'] starts with 'chat'; the first profile is the "
        "headline the gates and baselines judge and must be 'short' (prompt_tokens + gen_tokens): list 'short' first"
    ) in result.stdout.str() + result.stderr.str()
