"""Entry point of the child process: `python -m benchharness.worker TASK REQUEST.json RESULT.json`.

The request is decoded strictly into its dataclass (benchharness.protocol). Exit status 0 with a
result file on success; on a BenchHarnessError, status 3 and a ChildError in the result file so the
parent can re-raise it; anything else, status 4 with the traceback on stderr (which the parent quotes).
"""

from __future__ import annotations

import contextlib
import ctypes
import importlib
import json
import os
import signal
import sys
import threading
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchharness.errors import BenchHarnessError
from benchharness.protocol import TASKS, BuildRequest, ChildError, MeasureRequest, PairedRequest, decode, encode


def _build(request: BuildRequest) -> dict[str, Any]:
    from benchharness.models.recipes import recipe

    how = recipe(request.recipe)
    source = Path(request.source) if request.source else None
    # The function reads its parameters typed, defaults filled in, as the recipe declares them.
    how.load()(source, Path(request.destination), how.values(request.params), request.threads)
    return {}


def _measure(request: MeasureRequest) -> dict[str, Any]:
    from benchharness.runner import measure_case

    return measure_case(request).to_dict()


def _paired(request: PairedRequest) -> dict[str, Any]:
    from benchharness.runner import measure_pairs

    return encode(measure_pairs(request))  # type: ignore[no-any-return]


HANDLERS: dict[str, Callable[[Any], dict[str, Any]]] = {"build": _build, "measure": _measure, "paired": _paired}


def preload_runtimes(request: object) -> None:
    """Import each model's runtime before numpy and the rest, so its native libraries load first.

    llama.cpp's CUDA build segfaults in model load when numpy's OpenBLAS was loaded before it (seen
    on an H100); `import llama_cpp` alone loads them in the safe order, so the child does the same.
    """
    specs = [getattr(request, name) for name in ("model", "variant", "reference") if hasattr(request, name)]
    for spec in specs:
        with contextlib.suppress(ImportError):  # a missing runtime is reported by the backend itself
            importlib.import_module(spec.runtime_module)


def _die_with_parent() -> None:
    """End this job (and anything it started) when the pytest process that started it dies.

    The child runs in its own session, so a Ctrl-C at the terminal does not reach it (the parent kills it
    instead); a `kill -9` of the parent runs no code at all. Linux delivers SIGTERM on the parent's death
    (PR_SET_PDEATHSIG), but a Python handler runs only between bytecodes of the main thread, never while
    a runtime's native call holds it (seen: ONNX Runtime's Run with 1000 threads ignored SIGTERM), so a
    watcher thread also polls the parent's pid and kills this process group itself; native runtimes release
    the GIL while they compute, so the thread runs. SIGKILL of the whole group leaves no grace to ignore.
    """
    parent = int(os.environ.get("BENCHHARNESS_PARENT_PID", "0"))
    if not parent:
        return

    def end(*_: object) -> None:
        os.killpg(0, signal.SIGKILL)  # this worker leads its process group: tools it started go too

    signal.signal(signal.SIGTERM, end)
    if sys.platform == "linux":
        with contextlib.suppress(OSError, AttributeError):
            ctypes.CDLL(None, use_errno=True).prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG
    if os.getppid() != parent:  # the parent died before the request was registered
        end()

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(0.5)
        end()

    threading.Thread(target=watch, daemon=True, name="die-with-parent").start()


def main(argv: list[str]) -> int:
    task, request_path, result_path = argv
    _die_with_parent()
    request = decode(TASKS[task], json.loads(Path(request_path).read_text()))
    preload_runtimes(request)
    try:
        result = HANDLERS[task](request)
    except BenchHarnessError as e:
        Path(result_path).write_text(json.dumps({"error": encode(ChildError(type(e).__name__, str(e)))}))
        print(f"{type(e).__name__}: {e}", file=sys.stderr)
        return 3
    except Exception:
        traceback.print_exc()
        return 4
    Path(result_path).write_text(json.dumps({"result": result}))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
