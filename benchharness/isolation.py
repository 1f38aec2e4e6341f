"""Run one job (a measurement, a quantization) in a child Python process with a timeout.

Native runtimes segfault, abort, get OOM-killed and hang. Keeping them out of the pytest process
turns each of those into a CaseFailed for that one case, with the signal and the last lines the
child printed, while the session goes on to the next case and still writes its report.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import tempfile
from collections import deque
from pathlib import Path
from typing import Any

from benchharness import errors
from benchharness.protocol import ChildError, Request, decode, encode, task_name

TAIL_LINES = 15


def _tail(log_path: Path, lines: int = TAIL_LINES) -> str:
    try:
        with log_path.open("r", encoding="utf-8", errors="replace") as f:
            kept = deque((line.rstrip() for line in f if line.strip()), maxlen=lines)
    except OSError:
        return ""
    return " | ".join(kept)


def _child_env() -> dict[str, str]:
    """The parent's environment, with its import path, so test-registered backends import too."""
    env = dict(os.environ)
    paths = [p for p in sys.path if p and Path(p).exists()]
    env["PYTHONPATH"] = os.pathsep.join(paths)
    env["PYTHONUNBUFFERED"] = "1"
    env["BENCHHARNESS_PARENT_PID"] = str(os.getpid())  # the worker dies with this process
    return env


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


def _signal_name(returncode: int) -> str:
    try:
        return signal.Signals(-returncode).name
    except ValueError:
        return f"signal {-returncode}"


def run_job(request: Request, *, timeout_s: float, label: str, work_dir: Path) -> dict[str, Any]:
    """Run `benchharness.worker` on a typed request; return its result data or raise a harness error.

    Errors the worker raised on purpose (a BenchHarnessError subclass) come back as the same class
    with the same message; anything else becomes CaseFailed with the output's tail. The job's files live
    in `work_dir/<pid>-*` (under the cache, never /tmp), so a killed run's leftovers can be swept.
    An interrupt (Ctrl-C) kills the child's whole process group before it propagates.
    """
    try:
        work_dir.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise errors.PrepareError(
            f"cannot create {work_dir} ({e.strerror}); set BENCHHARNESS_CACHE to a writable folder"
        ) from None
    with tempfile.TemporaryDirectory(prefix=f"{os.getpid()}-", dir=work_dir) as tmp:
        request_path = Path(tmp) / "request.json"
        result = Path(tmp) / "result.json"
        log_path = Path(tmp) / "output.log"
        request_path.write_text(json.dumps(encode(request)))
        command = [sys.executable, "-m", "benchharness.worker", task_name(request), str(request_path), str(result)]
        with log_path.open("wb") as log:
            proc = subprocess.Popen(
                command,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                env=_child_env(),
                start_new_session=True,
            )
            try:
                returncode = proc.wait(timeout=timeout_s)
            except subprocess.TimeoutExpired:
                _kill_group(proc)
                raise errors.CaseFailed(
                    f"{label}: timed out after {timeout_s:g} s and was killed; raise case_timeout_s if it "
                    f"is just slow. Last output: {_tail(log_path) or '(none)'}"
                ) from None
            except BaseException:  # KeyboardInterrupt, SystemExit: the child must not outlive the run
                _kill_group(proc)
                raise
        if returncode < 0:
            raise errors.CaseFailed(
                f"{label}: child process died from {_signal_name(returncode)}. Last output: {_tail(log_path) or '(none)'}"
            )
        data: dict[str, Any] = {}
        if result.is_file():
            try:
                data = json.loads(result.read_text())
            except json.JSONDecodeError:
                data = {}
        if returncode == 3 and "error" in data:
            error = decode(ChildError, data["error"])
            kind = getattr(errors, error.type, None)
            if isinstance(kind, type) and issubclass(kind, errors.BenchHarnessError):
                raise kind(f"{label}: {error.message}")
        if returncode != 0 or not isinstance(data.get("result"), dict):
            raise errors.CaseFailed(
                f"{label}: child process exited with status {returncode}. Last output: {_tail(log_path) or '(none)'}"
            )
        result_data: dict[str, Any] = data["result"]
        return result_data
