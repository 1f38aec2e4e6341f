"""What a child's death by a signal means, where it happened, and what to do about it.

A native runtime that dies takes no Python exception with it: all the parent has is the signal, the
child's last output (with `faulthandler`'s Python stack, which the worker enables), the kernel's log
line for the fault (where this user may read it) and the memory the parent sampled while it waited.
`diagnose` turns those into one line a user can act on; the output's tail is kept beside it, whole.
"""

from __future__ import annotations

import os
import re
import signal
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

# What each fatal signal means for a benchmark child, and the fix that usually applies.
MEANINGS: dict[str, tuple[str, str]] = {
    "SIGILL": (
        "illegal instruction: the runtime ran a CPU instruction this machine does not execute (a native build "
        "made for another CPU, or a feature such as AMX or AVX-512 that the CPU or VM advertises but traps)",
        "reinstall the runtime built for a generic CPU (no -march=native), with pip's cache bypassed",
    ),
    "SIGSEGV": (
        "segmentation fault: the runtime read or wrote memory it does not own (a runtime bug, or a corrupt "
        "or truncated model file)",
        "delete the variant's folder in the cache so that prepare makes it again; if it persists, report it to "
        "the runtime with the output below",
    ),
    "SIGBUS": (
        "bus error: a memory-mapped file changed or was truncated under the runtime, or the disk (or /dev/shm) is full",
        "check free space (df -h on the cache and /dev/shm) and that nothing rewrites the cache while a run reads it",
    ),
    "SIGKILL": (
        "killed by SIGKILL: most likely the kernel's out-of-memory killer (or a user's kill -9)",
        "free memory, measure fewer or smaller variants at once, or lower threads; `dmesg | grep -i oom` tells",
    ),
    "SIGABRT": (
        "aborted: the runtime stopped itself on a failed internal check (an assertion such as GGML_ASSERT)",
        "read the output below for the check that failed; it usually names an unsupported shape or setting",
    ),
    "SIGFPE": (
        "arithmetic fault (an integer division by zero) inside the runtime",
        "report it to the runtime with the output below",
    ),
}

_KERNEL_LIBRARY = re.compile(r" in ([^\s\[]+)\[")  # "... trap invalid opcode ip:... in libggml-cpu.so[7f..+..]"
_PYTHON_FRAME = re.compile(r'File "([^"]+)", line (\d+) in (\S+)')


@dataclass(frozen=True)
class Crash:
    """A child's death by a signal, explained: the one-line `message` plus the facts behind it."""

    signal: str  # e.g. "SIGILL"
    meaning: str
    fix: str
    library: str | None  # the shared library the kernel names for the fault, or None
    frame: str | None  # the innermost Python frame faulthandler printed ("llamacpp.py:118 in _decode")
    kernel_line: str | None  # the kernel's own log line for this pid, where readable
    peak_rss_bytes: int | None  # the child process tree's largest sampled resident memory
    available_bytes: int | None  # the machine's available memory at the last sample
    total_bytes: int | None

    def where(self) -> str:
        parts = []
        if self.library:
            parts.append(f"in {self.library}")
        if self.frame:
            parts.append(f"during {self.frame}")
        return " ".join(parts)

    def message(self, label: str, fix: str | None = None) -> str:
        """`label: child process died from SIGILL (illegal instruction: ...) in lib.so during f.py:1 in g. Fix: ...`"""
        where = f" {self.where()}" if self.where() else ""
        memory = ""
        if self.signal == "SIGKILL" and self.peak_rss_bytes is not None:
            memory = f"; the child used up to {self.peak_rss_bytes / 2**20:.0f} MiB"
            if self.available_bytes is not None and self.total_bytes is not None:
                memory += (
                    f" while the machine had {self.available_bytes / 2**20:.0f} MiB of "
                    f"{self.total_bytes / 2**20:.0f} MiB available"
                )
        return f"{label}: child process died from {self.signal} ({self.meaning}){where}{memory}. Fix: {fix or self.fix}"


def signal_name(returncode: int) -> str:
    """`-4` -> "SIGILL" (a Popen return code below zero is the negated signal number)."""
    try:
        return signal.Signals(-returncode).name
    except ValueError:
        return f"signal {-returncode}"


def innermost_frame(lines: Sequence[str]) -> str | None:
    """The first frame of faulthandler's stack for the thread that faulted, as `file.py:LINE in function`.

    faulthandler prints every thread, each "(most recent call first)"; the faulting one is headed
    "Current thread" (other threads, such as the worker's parent watcher, come before it).
    """
    headers = [i for i, line in enumerate(lines) if "most recent call first" in line]
    current = [i for i in headers if lines[i].startswith("Current thread")]
    for start in current or headers[:1]:
        for line in lines[start + 1 :]:
            match = _PYTHON_FRAME.search(line)
            if match:
                return f"{os.path.basename(match.group(1))}:{match.group(2)} in {match.group(3)}"
    return None


def kernel_lines(pid: int) -> list[str]:
    """The kernel log's lines about `pid` (its fault or OOM-kill line), or [] where the log is not readable.

    Reads /dev/kmsg without blocking (root, or kernel.dmesg_restrict=0); each record is read once per open,
    from the oldest kept, so only this pid's lines are returned.
    """
    try:
        fd = os.open("/dev/kmsg", os.O_RDONLY | os.O_NONBLOCK)
    except OSError:
        return []
    found = []
    tag = f"[{pid}]"
    killed = f"process {pid} "
    try:
        while True:
            try:
                record = os.read(fd, 8192).decode("utf-8", "replace")
            except BlockingIOError:
                break
            except OSError:  # EPIPE: a record was overwritten while reading; go on with the next
                continue
            if not record:
                break
            text = record.split(";", 1)[-1].strip()
            if tag in text or killed in text:
                found.append(text)
    finally:
        os.close(fd)
    return found


def library_of(kernel: Sequence[str]) -> str | None:
    for line in kernel:
        match = _KERNEL_LIBRARY.search(line)
        if match:
            return match.group(1)
    return None


def diagnose(
    returncode: int,
    output: Sequence[str],
    kernel: Sequence[str],
    peak_rss_bytes: int | None = None,
    available_bytes: int | None = None,
    total_bytes: int | None = None,
) -> Crash:
    """Explain a death by signal from what the parent could gather (all arguments are plain data)."""
    name = signal_name(returncode)
    meaning, fix = MEANINGS.get(name, (f"terminated by {name}", "see the output below"))
    return Crash(
        signal=name,
        meaning=meaning,
        fix=fix,
        library=library_of(kernel),
        frame=innermost_frame(output),
        kernel_line=kernel[-1] if kernel else None,
        peak_rss_bytes=peak_rss_bytes,
        available_bytes=available_bytes,
        total_bytes=total_bytes,
    )


def tail(lines: Iterable[str], count: int = 12, width: int = 400) -> tuple[str, ...]:
    """The last `count` non-empty lines, each whole or shortened at a word boundary with an ellipsis."""
    kept = [line.rstrip() for line in lines if line.strip()][-count:]
    return tuple(line if len(line) <= width else line[:width].rsplit(" ", 1)[0] + " ..." for line in kept)
