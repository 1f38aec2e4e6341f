"""What to ship on a deployment target: limits judged with their noise, the order of preference, and the answer."""

from __future__ import annotations

import json

import pytest
from run_documents import case, reading, run

from benchharness import units
from benchharness.config import parse_settings, parse_targets
from benchharness.errors import ConfigError
from benchharness.report.targets import pick, target_lines
from benchharness.results import RunResult
from benchharness.toml_table import parse_size
from conftest import run_cli

MIB = 2**20
PASS = {"speedup": ("pass", 2.6, 2.5, 2.7), "accuracy_retained": ("pass", 0.99, 0.97, 1.0)}
LOSSY = {**PASS, "accuracy_retained": ("fail", 0.90, 0.88, 0.92)}


def lab(machine: str = "lab-a") -> RunResult:
    """f32 (reference, big), q8_0 (fast, big-ish), q4_1 (a bit slower, small), q4_0 (fastest, smallest, lossy)."""
    cases = [
        case("f32", 50.0, size=500 * MIB, rss=900 * MIB),
        case("q8_0", 120.0, gates=PASS, size=140 * MIB, rss=400 * MIB),
        case("q4_1", 110.0, gates=PASS, size=90 * MIB, rss=300 * MIB),
        case("q4_0", 160.0, gates=LOSSY, size=70 * MIB, rss=280 * MIB, outcome="xfailed"),
    ]
    return RunResult.from_dict(run(cases, machine), "r.json")


def target(**limits):
    return parse_targets({"phone": limits})["phone"]


def test_the_pick_meets_every_limit_with_its_evidence_and_names_the_runner_up():
    phone = target(max_model_bytes="150 MiB", max_memory_bytes="1 GiB", min_speed=50, min_accuracy_retained=0.95)
    (answer,) = pick(phone, lab())
    assert answer.pick is not None and answer.pick.name == "q8_0 on llamacpp"  # q4_0 is faster but loses accuracy
    assert answer.runner_up is not None and answer.runner_up.name == "q4_1 on llamacpp"
    lines = answer.lines()
    assert lines[0].startswith("target phone: smollm2-135m on cpu (lab-a): ship q8_0 on llamacpp (speed 120.")
    assert "  model file 140.0 MiB <= 150.0 MiB: met" in lines
    assert "  peak memory 400.0 MiB <= 1.00 GiB: met" in lines
    assert "  accuracy retained 99.00% [97.00%, 100.00%] >= 95.00%: met" in lines
    assert any(line.startswith("  speed 120.") and line.endswith(">= 50.00 tok/s: met") for line in lines)
    assert lines[-1].startswith("  runner-up: q4_1 on llamacpp (speed 110.")


def test_nothing_qualifies_names_the_limit_that_ruled_out_each_candidate_and_by_how_much():
    tiny = target(max_model_bytes="60 MiB", min_accuracy=0.6)
    (answer,) = pick(tiny, lab())
    assert answer.pick is None and answer.runner_up is None
    lines = answer.lines()
    assert lines[0] == "target phone: smollm2-135m on cpu (lab-a): nothing qualifies among 4 candidate(s)"
    # nearest first, each with its figure and its margin
    assert lines[1] == (
        "  max_model_bytes <= 60.0 MiB ruled out q4_0 on llamacpp (70.0 MiB, 10.0 MiB over), "
        "q4_1 on llamacpp (90.0 MiB, 30.0 MiB over), q8_0 on llamacpp (140.0 MiB, 80.0 MiB over), "
        "f32 on llamacpp (500.0 MiB, 440.0 MiB over)"
    )
    assert lines[2].startswith("  min_accuracy >= 60.00% ruled out f32 on llamacpp (49.00%, 11.00 points short)")


def _noisy(speed: float, stdev: float) -> RunResult:
    """One q4_0 case whose decode reading is `speed` ± stdev over 6 rounds (half-width 1.96 stdev/sqrt 6)."""
    data = case("q4_0", speed, gates=PASS)
    data["readings"]["decode_tok_per_s"] = reading("decode_tok_per_s", "tok/s", speed, stdev, 6)
    return RunResult.from_dict(run([data]), "r.json")


@pytest.mark.parametrize(
    ("limit", "status"),
    [(80.0, "met"), (95.0, "not shown"), (105.0, "not shown"), (120.0, "not met")],
)
def test_a_limit_met_only_inside_the_noise_is_not_shown(limit, status):
    (answer,) = pick(target(min_speed=limit), _noisy(100.0, 10.0))  # interval 100 ± 8.0
    (judged,) = answer.judged
    (evidence,) = judged.evidence
    assert evidence.status == status
    assert (answer.pick is not None) == (status == "met")
    if status == "not shown":
        assert answer.lines()[1] == (
            f"  min_speed >= {units.show(limit, 'tok/s')} not shown for q4_0 on llamacpp (100.0 tok/s [92.00, 108.0], "
            "inside the noise)"
        )


def test_a_missing_figure_is_not_shown_with_its_reason():
    (answer,) = pick(target(max_ttft_ms=100), _noisy(100.0, 1.0))
    (evidence,) = answer.judged[0].evidence
    assert evidence.status == "not shown"
    assert evidence.text() == "TTFT <= 100.0 ms: not shown (ttft_ms was not measured for this case)"


def test_the_order_of_preference_decides_and_a_speed_inside_the_noise_goes_to_the_next_preference():
    assert pick(target(prefer=["speed"]), lab())[0].pick.name == "q4_0 on llamacpp"
    assert pick(target(prefer=["size", "speed"]), lab())[0].pick.name == "q4_0 on llamacpp"
    assert pick(target(prefer=["accuracy", "size"]), lab())[0].pick.name == "q4_0 on llamacpp"  # all 49%: size
    by_size = pick(target(prefer=["size"], min_accuracy_retained=0.95), lab())[0]
    assert (by_size.pick.name, by_size.runner_up.name) == ("q4_1 on llamacpp", "q8_0 on llamacpp")
    # two speeds whose intervals overlap are a tie: the smaller file wins
    fast_big = case("q8_0", 100.0, size=140 * MIB)
    fast_big["readings"]["decode_tok_per_s"] = reading("decode_tok_per_s", "tok/s", 102.0, 10.0, 6)
    slow_small = case("q4_0", 100.0, size=70 * MIB)
    slow_small["readings"]["decode_tok_per_s"] = reading("decode_tok_per_s", "tok/s", 98.0, 10.0, 6)
    noisy = RunResult.from_dict(run([fast_big, slow_small]), "r.json")
    assert pick(target(prefer=["speed", "size"]), noisy)[0].pick.name == "q4_0 on llamacpp"
    assert pick(target(prefer=["speed"]), noisy)[0].pick.name == "q8_0 on llamacpp"  # no next: the estimate


def test_backends_and_devices_not_allowed_are_left_out_and_said_so():
    answer = pick(target(backends=["onnxruntime"]), lab())[0]
    assert answer.pick is None
    assert answer.lines()[1].startswith(
        "  ruled out as not among the target's backends (onnxruntime): f32 on llamacpp, q8_0 on llamacpp"
    )
    excluded = answer.judged[0].excluded  # what a target line about the recommended variant says
    assert excluded == "backend llamacpp is not among the target's backends (onnxruntime)"
    assert pick(target(devices=["cuda"]), lab()) == []
    assert target_lines([lab()], [target(devices=["cuda"])]) == [
        "target phone: lab-a: nothing measured on cuda to choose from"
    ]


def test_a_merged_lab_is_answered_per_machine():
    lines = target_lines([lab("lab-a"), lab("lab-b")], [target(max_model_bytes="100 MiB", min_accuracy_retained=0.95)])
    heads = [line for line in lines if line.startswith("target ")]
    assert heads == [
        "target phone: smollm2-135m on cpu (lab-a): ship q4_1 on llamacpp (speed 110.1 tok/s [109.8, 110.4], "
        "size 90.0 MiB, accuracy 49.00%)",
        "target phone: smollm2-135m on cpu (lab-b): ship q4_1 on llamacpp (speed 110.1 tok/s [109.8, 110.4], "
        "size 90.0 MiB, accuracy 49.00%)",
    ]


@pytest.mark.parametrize(
    ("text", "value"),
    [(52428800, 52428800), ("50 MiB", 50 * MIB), ("1 GB", 1e9), ("1.5gib", 1.5 * 2**30), ("512 kB", 512e3)],
)
def test_sizes_are_bytes_or_a_number_with_its_unit(text, value):
    assert parse_size("x", text) == value


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ({"max_model_bytes": "50"}, r"targets\.t\.max_model_bytes = '50' is not a size; write a byte count"),
        ({"max_model_bytes": 0}, r"targets\.t\.max_model_bytes = 0 is out of range; it must be >= 1"),
        ({"max_memory_bytes": "1 GiBs"}, r"targets\.t\.max_memory_bytes = '1 GiBs' is not a size"),
        ({"min_accuracy_retained": 95}, r"targets\.t\.min_accuracy_retained = 95.0 is out of range; .* 0.0..1.0"),
        ({"min_speed": "fast"}, r"targets\.t\.min_speed = 'fast' must be float"),
        ({"prefer": ["speed", "cost"]}, r"targets\.t\.prefer names 'cost', not a preference; valid: speed, size"),
        ({"prefer": ["size", "size"]}, r"targets\.t\.prefer = \['size', 'size'\] lists a preference twice"),
        ({"backends": ["llama"]}, r"targets\.t\.backends names 'llama', not a backend; valid: .*llamacpp"),
        ({"devices": ["tpu"]}, r"targets\.t\.devices names 'tpu', not a device type; valid: cpu"),
        ({"max_ram": 1}, r"targets\.t: unknown key 'max_ram'; valid keys: backends, devices, max_memory_bytes"),
    ],
)
def test_a_bad_target_is_one_line_naming_the_key_the_value_and_what_works(tmp_path, table, message):
    with pytest.raises(ConfigError, match=message) as raised:
        parse_settings({"targets": {"t": table}}, tmp_path)
    assert "\n" not in str(raised.value)


def test_the_recommend_command_answers_from_a_results_file(tmp_path):
    results = tmp_path / "results.json"
    results.write_text(json.dumps(lab().data))
    (tmp_path / "pyproject.toml").write_text(
        '[tool.benchharness.targets.phone]\nmax_model_bytes = "100 MiB"\nmin_accuracy_retained = 0.95\n'
        '[tool.benchharness.targets.tiny]\nmax_model_bytes = "60 MiB"\n'
    )
    done = run_cli(tmp_path, "recommend", str(results), "--target", "phone")
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines()[0].startswith("target phone: smollm2-135m on cpu (lab-a): ship q4_1 on llamacpp")
    assert "runner-up: none (no other candidate meets every limit)" in done.stdout
    everything = run_cli(tmp_path, "recommend", str(results))  # no --target: every target
    assert "target tiny: smollm2-135m on cpu (lab-a): nothing qualifies among 4 candidate(s)" in everything.stdout
    unknown = run_cli(tmp_path, "recommend", str(results), "--target", "watch")
    assert unknown.returncode == 2
    assert unknown.stderr.strip() == (
        "benchharness recommend: no target 'watch' in pyproject.toml [tool.benchharness.targets]; defined: phone, tiny"
    )


def test_the_report_has_a_section_per_target_with_the_pick_its_evidence_and_what_ruled_out_the_rest():
    from benchharness.report.html import render_report

    targets = parse_targets(
        {"phone": {"max_model_bytes": "100 MiB", "min_accuracy_retained": 0.95}, "tiny": {"max_model_bytes": "60 MiB"}}
    )
    page = render_report([lab("lab-a"), lab("lab-b")], targets=tuple(targets.values()))
    section = page[
        page.index('<section id="targets">') : page.index("</section>", page.index('<section id="targets">'))
    ]
    assert page.index('<section id="recommendations">') < page.index('<section id="targets">')
    assert section.count('data-target="phone"') == 2 and section.count('data-pick="q4_1 on llamacpp"') == 2
    assert 'data-machine="lab-b"' in section
    assert "<li>model file 90.0 MiB &lt;= 100.0 MiB: met</li>" in section
    assert "<li>max_model_bytes &lt;= 60.0 MiB ruled out q4_0 on llamacpp (70.0 MiB, 10.0 MiB over)" in section
    assert 'id="targets"' not in render_report([lab()])  # no target declared: no section


def test_the_readmes_example_target_is_a_valid_target():
    import tomllib
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    block = readme.split("**Deployment targets: what to ship where.**", 1)[1].split("```toml\n", 1)[1].split("```")[0]
    phone = parse_targets(tomllib.loads(block)["tool"]["benchharness"]["targets"])["phone"]
    assert (phone.max_model_bytes, phone.max_memory_bytes, phone.prefer) == (50 * MIB, 2**30, ("size", "speed"))


def test_a_pick_other_than_the_recommended_configuration_says_why():
    """A newcomer's finding: the report recommended q8_0 while a target shipped q4_1, and nothing said why."""
    # q8_0, the recommendation (the fastest passing every gate), is 140 MiB; q4_0 loses accuracy
    small = target(max_model_bytes="100 MiB", min_accuracy_retained=0.95)
    (answer,) = pick(small, lab())
    assert answer.pick is not None and answer.pick.name == "q4_1 on llamacpp"
    assert answer.recommended is not None and answer.recommended.name == "q8_0 on llamacpp"
    why = answer.against_recommended()
    assert why == (
        "not the recommended q8_0 on llamacpp (the fastest that passes every gate): "
        "model file 140.0 MiB <= 100.0 MiB: not met (40.0 MiB over)"
    )
    assert f"  {why}" in answer.lines()
    sized = parse_targets({"edge": {"prefer": ["size", "speed"], "min_accuracy_retained": 0.95}})["edge"]
    (answer,) = pick(sized, lab())  # both qualify; the order of preference decides
    assert answer.pick is not None and answer.pick.name == "q4_1 on llamacpp"
    why = str(answer.against_recommended())
    assert why.startswith(
        "not the recommended q8_0 on llamacpp (the fastest that passes every gate): both meet every limit, "
        "and this target prefers size then speed (q4_1 on llamacpp: size 90.0 MiB"
    ), why
    assert "; q8_0 on llamacpp: size 140.0 MiB" in why
    agreeing = target(max_model_bytes="150 MiB", min_accuracy_retained=0.95)
    (answer,) = pick(agreeing, lab())
    assert answer.pick is not None and answer.pick.name == "q8_0 on llamacpp" and answer.against_recommended() is None


def test_the_first_screen_says_why_a_target_ships_other_than_the_recommendation(tmp_path):
    from benchharness.report.html import write_report

    small = target(max_model_bytes="100 MiB", min_accuracy_retained=0.95)
    path = tmp_path / "report.html"
    write_report(path, [lab()], None, targets=(small,))
    first_screen = path.read_text().split('<section id="first-screen">', 1)[1].split("</section>", 1)[0]
    assert "ship <b>q4_1 on llamacpp</b>" in first_screen
    assert (
        "not the recommended q8_0 on llamacpp (the fastest that passes every gate): model file 140.0 MiB"
        in first_screen
    )
