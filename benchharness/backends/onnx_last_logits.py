"""The ONNX graph of a causal LM with a `logits_from` input in front of its LM head, kept beside the graph.

Prefill asks for the last position's logits only (logits_lm.py). The edited graph is written once
next to the variant's `model.onnx` (as `model.onnx.last-logits.onnx`, a name the exporters' sidecar
copy and the cache's content key both skip) and references the same external weight files. It is
made in a short-lived subprocess: loading and re-serializing a graph with weights inside would
otherwise raise the measuring child's peak memory, which is a reading of its own.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from benchharness.backends.logits_lm import LOGITS_FROM
from benchharness.errors import ModelError

SUFFIX = ".last-logits.onnx"
NOT_A_CAUSAL_LM = "{path} is not a causal LM with a KV cache (export it with task text-generation-with-past)"


def last_logits_graph(graph: Path) -> Path:
    """The sliced graph beside `graph`, made first if missing (a ModelError says why it cannot be)."""
    target = graph.with_name(graph.name + SUFFIX)
    if target.is_file() and target.stat().st_mtime >= graph.stat().st_mtime:
        return target
    done = subprocess.run(
        [sys.executable, "-m", "benchharness.backends.onnx_last_logits", str(graph)],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0:
        lines = [line for line in done.stderr.splitlines() if line.strip()]
        raise ModelError(
            lines[-1].removeprefix("benchharness.errors.ModelError: ") if lines else f"exit {done.returncode}"
        )
    return target


def slice_before_lm_head(graph: Path) -> bytes:
    """The graph with input `logits_from` slicing the LM head's input (sequence axis) from that position on."""
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
    return serialized


def main(graph: Path) -> int:
    target = graph.with_name(graph.name + SUFFIX)
    partial = target.with_name(f"{target.name}.partial-{os.getpid()}")
    try:
        partial.write_bytes(slice_before_lm_head(graph))
        os.replace(partial, target)
    except ModelError as e:
        print(f"benchharness.errors.ModelError: {e}", file=sys.stderr)
        return 2
    except Exception as e:  # onnx raises its own types for a corrupt or truncated file
        first_line = str(e).strip().splitlines()[0] if str(e).strip() else type(e).__name__
        print(f"onnxruntime cannot load {graph}: {first_line[:300]}; re-prepare or replace the file", file=sys.stderr)
        return 2
    finally:
        partial.unlink(missing_ok=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main(Path(sys.argv[1])))
