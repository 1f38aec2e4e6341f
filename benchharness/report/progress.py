"""Progress of long steps (prepare, each measuring child) shown without breaking pytest's own lines.

On a terminal, the step is a status written at the end of pytest's current line and erased in
place (backspaces) when the next step starts and when the case ends, before pytest writes the
case's result: pytest's line reads as if nothing had been there. In a log (not a terminal) erasing
is impossible, so the steps are written as lines only with -v, where pytest gives each test its
own line too; at the default verbosity the log holds pytest's lines and the final table.
"""

from __future__ import annotations

from typing import Any, Protocol


class Writer(Protocol):
    """The part of pytest's TerminalReporter the display uses."""

    def write(self, content: str, *, flush: bool = False, **markup: bool) -> None: ...

    def write_line(self, line: str, **markup: bool) -> None: ...


class ProgressDisplay:
    """Called with each step's text; `clear()` when the case is over."""

    def __init__(self, writer: Writer | None, *, interactive: bool, verbose: bool, width: int = 120) -> None:
        self.writer = writer
        self.interactive = interactive
        self.verbose = verbose
        self.width = width
        self._shown = 0  # characters of status currently on the line

    def __call__(self, text: str) -> None:
        if self.writer is None:
            return
        if not self.interactive:
            if self.verbose:
                self.writer.write_line(f"benchharness: {text}")
            return
        status = f" [{text}]"
        room = max(self.width - 40, 20)  # leave pytest's file name and result characters their place
        if len(status) > room:
            status = status[: room - 2] + "…]"
        self.writer.write(self._erase() + status, flush=True)
        self._shown = len(status)

    def clear(self) -> None:
        if self.writer is not None and self.interactive and self._shown:
            self.writer.write(self._erase(), flush=True)

    def _erase(self) -> str:
        n, self._shown = self._shown, 0
        return "\b" * n + " " * n + "\b" * n


class _Uncaptured:
    """Writes through pytest's reporter around output capturing, so a step shows while the case's test runs."""

    def __init__(self, reporter: Any, capture: Any) -> None:
        self.reporter, self.capture = reporter, capture

    def write(self, content: str, *, flush: bool = False, **markup: bool) -> None:
        if self.capture is not None:
            with self.capture.global_and_fixture_disabled():
                self.reporter.write(content, flush=flush, **markup)
        else:
            self.reporter.write(content, flush=flush, **markup)

    def write_line(self, line: str, **markup: bool) -> None:
        if self.capture is not None:
            with self.capture.global_and_fixture_disabled():
                self.reporter.write_line(line, **markup)
        else:
            self.reporter.write_line(line, **markup)


class PytestProgress(ProgressDisplay):
    """The display for a pytest run. pytest registers its terminal reporter after plugins configure,
    so the reporter is looked up at the first step: in place on a terminal, lines with -v in a log."""

    def __init__(self, config: Any) -> None:
        super().__init__(None, interactive=False, verbose=False)
        self.config = config
        self._bound = False

    def _bind(self) -> None:
        if self._bound:
            return
        reporter = self.config.pluginmanager.get_plugin("terminalreporter")
        if reporter is None:
            return
        self._bound = True
        capture = self.config.pluginmanager.get_plugin("capturemanager")
        self.writer = _Uncaptured(reporter, capture)
        verbosity = self.config.get_verbosity()
        self.interactive = bool(reporter.isatty) and verbosity >= 0
        self.verbose = verbosity >= 1
        self.width = int(reporter._tw.fullwidth)

    def __call__(self, text: str) -> None:
        self._bind()
        super().__call__(text)

    def clear(self) -> None:
        self._bind()
        super().clear()
