"""The ONNX graph of a causal LM with a `logits_from` input in front of its LM head: a derived artifact.

Prefill asks for the last position's logits only (backends/logits_lm.py), so onnxruntime loads an
edited copy of the variant's graph. The copy is made in prepare by recipe `onnx-last-logits`
(models/recipes.py) into its own folder beside the variant (`<variant>.last-logits`, with its own
manifest and key: formats/derived.py), never into the variant's folder. Written there at load time,
it had made the same variant read 611.5 MiB on the run that made it and 1.10 GiB on every run
after, and its memory figures move with the cache's state. The copy holds the sliced graph and
the external weight files the graph names (hard-linked where the file system allows, else
copied), so it loads on its own.

A variant the config locates (a user's own file or folder) is not the cache's to write beside:
its copy is made when the model loads, into a temporary folder removed when the model closes (its
load time includes the slicing). Either way the slicing runs in another process (prepare's child,
or a short-lived subprocess): loading and re-serializing a graph with weights inside would
otherwise raise the measuring child's peak memory, which is a reading of its own.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Mapping
from pathlib import Path, PurePosixPath
from typing import Any

from benchharness.errors import ModelError
from benchharness.formats.derived import derived_path
from benchharness.formats.onnx import MODEL_FILE, model_file

LOGITS_FROM = "logits_from"  # the input added in front of the LM head: first position whose logits are computed
NAME = "last-logits"  # the derived artifact's name: `<variant>.last-logits` beside the variant
NOT_A_CAUSAL_LM = "{path} is not a causal LM with a KV cache (export it with task text-generation-with-past)"


def prepared_copy(variant: Path) -> Path:
    """Where prepare puts the sliced copy of `variant` (a folder holding model.onnx)."""
    return derived_path(variant, NAME)


def graph_for(variant: Path) -> tuple[Path, Path | None]:
    """The sliced graph to load, and a temporary folder to remove after closing (None for a prepared copy)."""
    prepared = prepared_copy(variant) / MODEL_FILE
    if prepared.is_file():
        return prepared, None
    scratch = Path(tempfile.mkdtemp(prefix="benchharness-last-logits-"))
    done = subprocess.run(
        [sys.executable, "-m", "benchharness.formats.onnx_last_logits", str(variant), str(scratch / NAME)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        shutil.rmtree(scratch, ignore_errors=True)
        lines = [line for line in done.stderr.splitlines() if line.strip()]
        raise ModelError(
            lines[-1].removeprefix("benchharness.errors.ModelError: ") if lines else f"exit {done.returncode}"
        )
    return scratch / NAME / MODEL_FILE, scratch


def make(source: Path | None, destination: Path, params: Mapping[str, str], threads: int) -> None:
    """Recipe: the variant's graph with the `logits_from` slice, and its external weight files, in `destination`."""
    assert source is not None
    graph = model_file(source)
    destination.mkdir(parents=True, exist_ok=True)
    serialized, weight_files = slice_before_lm_head(graph)
    for name in weight_files:
        target = destination / name
        target.parent.mkdir(parents=True, exist_ok=True)
        try:
            os.link(graph.parent / name, target)  # same weights, no second copy on disk
        except OSError:
            shutil.copy2(graph.parent / name, target)
    (destination / MODEL_FILE).write_bytes(serialized)


def _external_files(model: Any, graph: Path) -> list[str]:
    """The external weight files the graph names, relative to its folder (a name leaving the folder is refused)."""
    from onnx.external_data_helper import _get_all_tensors, uses_external_data

    names = set()
    for tensor in _get_all_tensors(model):
        if uses_external_data(tensor):
            location = next(e.value for e in tensor.external_data if e.key == "location")
            pure = PurePosixPath(location)
            if pure.is_absolute() or ".." in pure.parts:
                raise ModelError(f"{graph} names external data {location!r} outside its folder; re-export the model")
            names.add(location)
    return sorted(names)


def slice_before_lm_head(graph: Path) -> tuple[bytes, list[str]]:
    """The graph with input `logits_from` slicing the LM head's input (sequence axis) from that position on,
    serialized, and the external weight files it reads."""
    import onnx
    from onnx import TensorProto, helper

    model = onnx.load(str(graph), load_external_data=False)
    inputs = [i.name for i in model.graph.input]
    if "input_ids" not in inputs or not any(name.startswith("past_key_values.") for name in inputs):
        raise ModelError(NOT_A_CAUSAL_LM.format(path=graph.parent))
    producers = {output: node for node in model.graph.node for output in node.output}
    lm_head = producers.get(model.graph.output[0].name)
    while lm_head is not None and lm_head.op_type == "Cast":
        lm_head = producers.get(lm_head.input[0])
    if lm_head is None or lm_head.op_type not in ("MatMul", "MatMulNBits"):
        found = "nothing" if lm_head is None else lm_head.op_type
        raise ModelError(f"{graph}: the logits are not made by a MatMul (found {found}); cannot slice them")
    hidden, sliced = lm_head.input[0], f"{lm_head.input[0]}/{LOGITS_FROM}"
    end, axis = f"{LOGITS_FROM}/end", f"{LOGITS_FROM}/axis"
    model.graph.initializer.extend(
        [
            helper.make_tensor(end, TensorProto.INT64, [1], [2**62]),
            helper.make_tensor(axis, TensorProto.INT64, [1], [1]),
        ]
    )
    model.graph.input.append(helper.make_tensor_value_info(LOGITS_FROM, TensorProto.INT64, [1]))
    position = list(model.graph.node).index(lm_head)
    model.graph.node.insert(position, helper.make_node("Slice", [hidden, LOGITS_FROM, end, axis], [sliced]))
    lm_head.input[0] = sliced
    serialized: bytes = model.SerializeToString()
    return serialized, _external_files(model, graph)


def main(source: Path, destination: Path) -> int:
    """The load-time path for a located variant: make the copy, or print the one-line reason and exit 2."""
    try:
        make(source, destination, {}, 1)
    except ModelError as e:
        print(f"benchharness.errors.ModelError: {e}", file=sys.stderr)
        return 2
    except Exception as e:  # onnx raises its own types for a corrupt or truncated file
        first_line = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        print(
            f"onnxruntime cannot load {model_file(source)}: {first_line[:300]}; re-prepare or replace the file",
            file=sys.stderr,
        )
        return 2
    return 0


if __name__ == "__main__":
    raise SystemExit(main(Path(sys.argv[1]), Path(sys.argv[2])))
