"""Every error benchharness raises on purpose, so callers can catch one base class.

    BenchHarnessError
     ├── ConfigError           bad pyproject / suite / command-line settings
     ├── ModelError            a missing, truncated or corrupt model file, or one a backend cannot run
     │    └── PrepareError     a variant could not be produced from its source
     ├── BackendUnavailable    a runtime or device is not on this machine (turned into a skip reason)
     ├── StoreError            a malformed, wrong-version or unwritable baseline or results file
     │    └── MachineMismatch  a baseline recorded on another machine
     └── CaseFailed            a case's child process crashed, hung, or produced unusable figures

Each message says what was wrong, the offending value, and what to do next, on one line, because
these errors end up in pytest's short summary where a traceback would only hide them.
"""

from __future__ import annotations


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


class MachineMismatch(StoreError):
    """A baseline that was recorded on a different machine than the current one."""


class CaseFailed(BenchHarnessError):
    """A case whose measurement did not complete (crash, signal, timeout, non-finite figure)."""
