"""A prepared variant does not change after its manifest is written: not on the run that made it, not after.

Backends once wrote derived files into a variant's cached folder at load time (onnxruntime's
last-logits graph, a second full copy of the graph), so the same variant read 611.5 MiB on the run
that made the file and 1.10 GiB on every run after. These tests hash every file of every variant
folder a real run used, and load a tiny causal LM the way onnxruntime loads SmolLM2, prepared and
located, checking that nothing is written into either folder.
"""

from __future__ import annotations

import hashlib
import json
import os
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("onnxruntime", reason="pip install 'benchharness[onnx]'")
pytest.importorskip("sklearn", reason="pip install 'benchharness[exporters]'")

from benchharness.backends.base import LoadOptions
from benchharness.backends.onnxruntime import OnnxRuntimeBackend
from benchharness.formats import onnx_last_logits
from benchharness.models import prepare
from benchharness.models.registry import ModelDef, VariantDef
from benchharness.models.sizes import file_sizes
from conftest import digits_project, run_digits

VOCAB, HIDDEN = 16, 32


def hashes(folder: Path) -> dict[str, str]:
    """sha256 of every file under `folder`, by relative name (a new, changed or removed file all show)."""
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def variant_folders(cache: Path) -> list[Path]:
    """Every prepared variant (and derived artifact) folder in the cache: <format>/<model>/<label>-<key>[.name]."""
    return sorted(
        p for p in cache.glob("*/*/*") if p.is_dir() and not p.name.endswith(".lock") and "jobs" not in p.parts
    )


@pytest.mark.e2e
def test_a_real_run_leaves_every_variant_folder_it_used_unchanged(tmp_path):
    root = digits_project(tmp_path / "project")
    cache = tmp_path / "cache"
    env = {"BENCHHARNESS_CACHE": str(cache)}
    code, output = run_digits(root, env=env)  # prepares, then loads each variant in its own child
    assert code == 0, output[-3000:]
    folders = variant_folders(cache)
    assert [f.parent.name for f in folders] == ["digits-mlp", "digits-mlp"], folders
    for folder in folders:  # nothing was written after the manifest, on the run that wrote the manifest
        manifest = json.loads(folder.with_name(folder.name + ".json").read_text())
        on_disk = {str(p.relative_to(folder)): p.stat().st_size for p in folder.rglob("*") if p.is_file()}
        assert on_disk == manifest["files"], folder
    before = {f: hashes(f) for f in folders}
    code, output = run_digits(root, env=env)  # the cache is reused: loads only
    assert code == 0, output[-3000:]
    assert variant_folders(cache) == folders
    assert {f: hashes(f) for f in folders} == before
    assert "does not match its manifest" not in output


def tiny_causal_lm(folder: Path, external: bool = False) -> Path:
    """An optimum-shaped causal LM (input_ids, attention_mask, past_key_values.0.*, MatMul LM head), 1 KV head."""
    import onnx
    from onnx import TensorProto, helper, numpy_helper
    from tokenizers import Tokenizer, models, pre_tokenizers

    rng = np.random.default_rng(0)
    embedding = numpy_helper.from_array(rng.standard_normal((VOCAB, HIDDEN)).astype(np.float32), "embedding")
    head = numpy_helper.from_array(rng.standard_normal((HIDDEN, VOCAB)).astype(np.float32), "lm_head")
    nodes = [
        helper.make_node("Gather", ["embedding", "input_ids"], ["hidden"]),  # [1, seq, hidden]
        helper.make_node("Unsqueeze", ["hidden", "one"], ["step"]),  # [1, 1, seq, hidden]
        helper.make_node("Concat", ["past_key_values.0.key", "step"], ["present.0.key"], axis=2),
        helper.make_node("Concat", ["past_key_values.0.value", "step"], ["present.0.value"], axis=2),
        helper.make_node("MatMul", ["hidden", "lm_head"], ["logits"]),
    ]
    past = [
        helper.make_tensor_value_info(f"past_key_values.0.{n}", TensorProto.FLOAT, [1, 1, "past", HIDDEN])
        for n in ("key", "value")
    ]
    graph = helper.make_graph(
        nodes,
        "tiny",
        [
            helper.make_tensor_value_info("input_ids", TensorProto.INT64, [1, "seq"]),
            helper.make_tensor_value_info("attention_mask", TensorProto.INT64, [1, "total"]),
            *past,
        ],
        [
            helper.make_tensor_value_info("logits", TensorProto.FLOAT, [1, "seq", VOCAB]),
            *(
                helper.make_tensor_value_info(f"present.0.{n}", TensorProto.FLOAT, [1, 1, "total", HIDDEN])
                for n in ("key", "value")
            ),
        ],
        [embedding, head, numpy_helper.from_array(np.array([1], np.int64), "one")],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    folder.mkdir(parents=True)
    onnx.save(
        model, folder / "model.onnx", save_as_external_data=external, location="model.onnx.data", size_threshold=1024
    )
    words = {f"w{i}": i for i in range(VOCAB)}
    tokenizer = Tokenizer(models.WordLevel(words, unk_token="w0"))
    tokenizer.pre_tokenizer = pre_tokenizers.Whitespace()
    tokenizer.save(str(folder / "tokenizer.json"))
    (folder / "config.json").write_text("{}")
    return folder


def greedy_and_full(path: Path) -> tuple[int, np.ndarray]:
    model = OnnxRuntimeBackend().load(path, "cpu", LoadOptions(threads=1, n_ctx=32, n_batch=32))
    try:
        prompt = model.tokenize("w1 w2 w3")
        greedy = model.prefill(prompt)
        return greedy, model.score([*prompt, greedy], first=0)
    finally:
        model.close()


@pytest.mark.parametrize("external", [False, True], ids=["weights-inside", "external-data"])
def test_a_causal_lm_loads_its_last_logits_copy_from_beside_the_variant_and_writes_nothing_into_it(tmp_path, external):
    source = tiny_causal_lm(tmp_path / "mine", external)
    tiny = ModelDef(
        name="tiny",
        kind="causal-lm",
        references={"onnx": "fp32"},
        variants={
            ("onnx", "fp32"): VariantDef("fp32", "onnx", locate=lambda: source),
            ("onnx", "int4"): VariantDef(
                "int4", "onnx", recipe="ort-int4-weight-only", params=(("block_size", "32"),), base=("onnx", "fp32")
            ),
        },
    )
    preparer = prepare.Preparer(tmp_path / "cache", 1, 300, print)
    located, made = preparer.prepare(tiny, "onnx", "fp32"), preparer.prepare(tiny, "onnx", "int4")
    copy = onnx_last_logits.prepared_copy(made.path)
    assert copy.name == f"{made.path.name}.{prepare.LAST_LOGITS[0]}" and (copy / "model.onnx").is_file()
    assert json.loads(copy.with_name(copy.name + ".json").read_text())["recipe"] == "onnx-last-logits"
    assert not onnx_last_logits.prepared_copy(located.path).exists()  # nothing beside the user's own folder
    for variant in (located, made):
        before = hashes(variant.path)
        scratch_before = set(Path(os.environ.get("TMPDIR", "/tmp")).glob("benchharness-last-logits-*"))
        greedy, full = greedy_and_full(variant.path)
        assert int(full[-1].argmax()) == greedy and full.shape == (3, VOCAB)  # the sliced head predicts the same
        assert hashes(variant.path) == before, variant.label
        assert set(Path(os.environ.get("TMPDIR", "/tmp")).glob("benchharness-last-logits-*")) == scratch_before
    # A second Preparer (the next session) finds the copy intact and makes nothing new.
    messages: list[str] = []
    again = prepare.Preparer(tmp_path / "cache", 1, 300, messages.append).prepare(tiny, "onnx", "int4")
    assert again.path == made.path and messages == []


@pytest.mark.slow
def test_a_copy_written_into_a_variant_by_an_earlier_version_is_removed_and_the_variant_kept(tmp_path):
    preparer = prepare.Preparer(tmp_path / "cache", 1, 300, print)
    from benchharness.models.registry import builtin_models

    digits = builtin_models()["digits-mlp"]
    variant = preparer.prepare(digits, "onnx", "fp32")
    stale = variant.path / "model.onnx.last-logits.onnx"
    stale.write_bytes(b"x" * 1000)
    messages: list[str] = []
    again = prepare.Preparer(tmp_path / "cache", 1, 300, messages.append).prepare(digits, "onnx", "fp32")
    assert again.path == variant.path and not stale.exists()
    assert any("a load-time copy written by an earlier version" in m for m in messages), messages
    assert not any("rebuilding" in m for m in messages), messages


@pytest.mark.slow
def test_a_file_written_into_a_prepared_variant_makes_it_fail_its_check(tmp_path):
    from benchharness.models.registry import builtin_models

    digits = builtin_models()["digits-mlp"]
    variant = prepare.Preparer(tmp_path / "cache", 1, 300, print).prepare(digits, "onnx", "fp32")
    (variant.path / "written-at-load-time.bin").write_bytes(b"x")
    messages: list[str] = []
    prepare.Preparer(tmp_path / "cache", 1, 300, messages.append).prepare(digits, "onnx", "fp32")
    assert any("does not match its manifest; rebuilding it" in m for m in messages), messages
    assert not (variant.path / "written-at-load-time.bin").exists()


def test_size_readings_count_weights_and_tokenizer_apart(tmp_path):
    folder = tmp_path / "v"
    folder.mkdir()
    (folder / "model.onnx").write_bytes(b"g" * 100)
    (folder / "model.onnx.data").write_bytes(b"w" * 1000)
    (folder / "tokenizer.model").write_bytes(b"t" * 50)
    (folder / "tokenizer.json").write_bytes(b"t" * 7)
    (folder / "config.json").write_bytes(b"c" * 3)
    sizes = file_sizes(folder)
    assert (sizes.weights_bytes, sizes.tokenizer_bytes, sizes.metadata_bytes) == (1100, 57, 3)
    (folder / "tokenizer.model").unlink()
    (folder / "tokenizer.json").unlink()
    assert file_sizes(folder).tokenizer_bytes is None  # no tokenizer files: unavailable, not zero
    assert file_sizes(folder / "model.onnx") == type(sizes)(100, None, 0)


def test_the_backend_and_prepare_name_the_copy_alike():
    assert prepare.LAST_LOGITS[0] == onnx_last_logits.NAME
