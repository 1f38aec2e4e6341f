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
import time
from pathlib import Path
from typing import Any

import psutil

from benchharness import crashes, errors
from benchharness.protocol import ChildError, Request, decode, encode, task_name

TAIL_LINES = 12
POLL_S = 0.25  # how often the parent samples the child's memory while it waits
WORKER_PID_FILE = "worker.pid"  # in the job folder: the sweep never removes a live worker's files


def _output_lines(log_path: Path) -> list[str]:
    try:
        with log_path.open("r", encoding="utf-8", errors="replace") as f:
            return [line.rstrip("\n") for line in f]
    except OSError:
        return []


def _tail_text(lines: tuple[str, ...]) -> str:
    return " | ".join(lines) or "(none)"


def _child_env() -> dict[str, str]:
    """The parent's environment, with its import path, so test-registered backends import too."""
    env = dict(os.environ)
    paths = [p for p in sys.path if p and Path(p).exists()]
    env["PYTHONPATH"] = os.pathsep.join(paths)
    env["PYTHONUNBUFFERED"] = "1"
    env["PYTHONFAULTHANDLER"] = "1"  # a fatal signal prints the Python stack: where the runtime died
    env["BENCHHARNESS_PARENT_PID"] = str(os.getpid())  # the worker dies with this process
    # CUDA numbers boards fastest first by default, NVML by PCI bus: the same order makes cuda:N (named from
    # NVML, gpus.py) the board the runtime loads on and the board the GPU meters read.
    env["CUDA_DEVICE_ORDER"] = "PCI_BUS_ID"
    return env


def _kill_group(proc: subprocess.Popen[bytes]) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


class _MemoryWatch:
    """The child's process tree's largest resident memory, sampled while the parent waits (for SIGKILL reports)."""

    def __init__(self, pid: int) -> None:
        self.peak: int | None = None
        self.available: int | None = None
        self.total: int | None = None
        try:
            self._proc: psutil.Process | None = psutil.Process(pid)
        except psutil.Error:
            self._proc = None

    def sample(self) -> None:
        if self._proc is None:
            return
        try:
            rss = sum(p.memory_info().rss for p in [self._proc, *self._proc.children(recursive=True)])
        except psutil.Error:
            return
        self.peak = max(self.peak or 0, rss)
        memory = psutil.virtual_memory()
        self.available, self.total = int(memory.available), int(memory.total)


def _wait(proc: subprocess.Popen[bytes], timeout_s: float) -> tuple[int, _MemoryWatch]:
    """Wait for the child, sampling its memory; raises subprocess.TimeoutExpired at `timeout_s`."""
    watch = _MemoryWatch(proc.pid)
    deadline = time.monotonic() + timeout_s
    while True:
        watch.sample()
        left = deadline - time.monotonic()
        if left <= 0:
            raise subprocess.TimeoutExpired(proc.args, timeout_s)
        try:
            return proc.wait(timeout=min(POLL_S, left)), watch
        except subprocess.TimeoutExpired:
            continue


def crashed(label: str, returncode: int, lines: list[str], pid: int, watch: _MemoryWatch) -> errors.ChildCrashed:
    """The error for a child killed by a signal: cause, place and fix in one line; the output's tail beside it."""
    crash = crashes.diagnose(returncode, lines, crashes.kernel_lines(pid), watch.peak, watch.available, watch.total)
    return errors.ChildCrashed(crash.message(label), crash, crashes.tail(lines, TAIL_LINES), label)


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
                (Path(tmp) / WORKER_PID_FILE).write_text(str(proc.pid))
                returncode, watch = _wait(proc, timeout_s)
            except subprocess.TimeoutExpired:
                _kill_group(proc)
                last = crashes.tail(_output_lines(log_path), TAIL_LINES)
                raise errors.CaseFailed(
                    f"{label}: timed out after {timeout_s:g} s and was killed; raise case_timeout_s if it "
                    f"is just slow. Last output: {_tail_text(last)}",
                    last,
                ) from None
            except BaseException:  # KeyboardInterrupt, SystemExit: the child must not outlive the run
                _kill_group(proc)
                raise
        lines = _output_lines(log_path)
        if returncode < 0:
            raise crashed(label, returncode, lines, proc.pid, watch)
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
            last = crashes.tail(lines, TAIL_LINES)
            raise errors.CaseFailed(f"{label}: {_exit_cause(returncode, lines)}", last)
        result_data: dict[str, Any] = data["result"]
        return result_data


def _exit_cause(returncode: int, lines: list[str]) -> str:
    """One line for a child that exited on its own with an error: the exception's last line first, once.

    A Python traceback's last line is the error itself; chained tracebacks ("During handling of the above
    exception ...") repeat what came before it, so only the final exception is named.
    """
    last_error = next(
        (line.strip() for line in reversed(lines) if line.strip() and not line.startswith((" ", "\t"))),
        "",
    )
    if returncode == 4 and last_error:
        return f"the child raised {last_error} (its traceback is in the output below)"
    return f"child process exited with status {returncode}" + (f": {last_error}" if last_error else "")
