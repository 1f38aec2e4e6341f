"""Every error benchharness raises on purpose, so callers can catch one base class.

    BenchHarnessError
     ├── ConfigError           bad pyproject / suite / command-line settings
     ├── ModelError            a missing, truncated or corrupt model file, or one a backend cannot run
     │    └── PrepareError     a variant could not be produced from its source
     ├── BackendUnavailable    a runtime or device is not on this machine (turned into a skip reason)
     ├── StoreError            a malformed, wrong-version or unwritable baseline or results file
     ├── ReplyError            a child's reply whose info has an unknown, missing or mistyped key (child_info.py)
     │    └── MachineMismatch  a baseline recorded on another machine
     └── CaseFailed            a case's child process crashed, hung, or produced unusable figures
          └── ChildCrashed     the child died from a signal (SIGILL, SIGSEGV, SIGKILL, ...)

Each message says what was wrong, the offending value, and what to do next, on one line, because
these errors end up in pytest's short summary where a traceback would only hide them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from benchharness.crashes import Crash


class BenchHarnessError(Exception):
    """Base class: expected failures that the harness reports without a traceback."""


class ConfigError(BenchHarnessError):
    """Settings that cannot be used as given."""


class ModelError(BenchHarnessError):
    """A model file that cannot be found, read or run."""


class PrepareError(ModelError):
    """A variant that could not be produced (quantizer failure, unwritable cache)."""


class BackendUnavailable(BenchHarnessError):
    """A runtime or device missing on this machine; the message becomes the skip reason."""


class StoreError(BenchHarnessError):
    """A stored baseline or results file that cannot be read or written."""


class ReplyError(BenchHarnessError, ValueError):
    """A child's reply, fresh or stored, whose info does not fit ChildInfo; a ValueError too, as a bad value is."""


class MachineMismatch(StoreError):
    """A baseline that was recorded on a different machine than the current one."""


class CaseFailed(BenchHarnessError):
    """A case whose measurement did not complete (crash, signal, timeout, non-finite figure).

    `log_tail` keeps the child's last output lines whole, beside the one-line message, so the results
    and the report can show them without cutting the message (or a line) in the middle.
    """

    def __init__(self, message: str, log_tail: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.log_tail = log_tail


class ChildCrashed(CaseFailed):
    """A child process killed by a signal; `crash` says which, what it means and where it happened."""

    def __init__(self, message: str, crash: Crash, log_tail: tuple[str, ...], label: str) -> None:
        super().__init__(message, log_tail)
        self.crash = crash
        self.label = label  # the case or job the child ran, for a message re-worded with another fix


class RenamedSetting(FutureWarning):
    """A config key or option read under its old name: it still works, and the warning names the new one.

    Renames keep a user's file running for a release (`quants` -> `variants`, 2026-12) instead of
    breaking every suite at once; pytest shows the warning in its summary, the CLI on stderr.
    """
