"""Entry point of the child process: `python -m benchharness.worker TASK REQUEST.json RESULT.json`.

Exit status 0 with a result file on success; on a BenchHarnessError, status 3 and the error's class
and message in the result file so the parent can re-raise it; anything else, status 4 with the
traceback on stderr (which the parent quotes).
"""

from __future__ import annotations

import json
import sys
import traceback
from collections.abc import Callable
from pathlib import Path
from typing import Any

from benchharness.errors import BenchHarnessError


def _build(request: dict[str, Any]) -> dict[str, Any]:
    from benchharness.models.recipes import recipe

    source = Path(request["source"]) if request.get("source") else None
    recipe(request["recipe"]).load()(source, Path(request["destination"]), request["params"], int(request["threads"]))
    return {}


def _measure(request: dict[str, Any]) -> dict[str, Any]:
    from benchharness.runner import measure_case

    return measure_case(request).to_dict()


TASKS: dict[str, Callable[[dict[str, Any]], dict[str, Any]]] = {"build": _build, "measure": _measure}


def main(argv: list[str]) -> int:
    task, request_path, result_path = argv
    request = json.loads(Path(request_path).read_text())
    try:
        result = TASKS[task](request)
    except BenchHarnessError as e:
        Path(result_path).write_text(json.dumps({"error": {"type": type(e).__name__, "message": str(e)}}))
        print(f"{type(e).__name__}: {e}", file=sys.stderr)
        return 3
    except Exception:
        traceback.print_exc()
        return 4
    Path(result_path).write_text(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
