"""pytest hooks only: options, parametrization of suites into cases, outcomes, and the summary.

Registered once, through the `pytest11` entry point, so `--device` works from any directory.
State lives in `config.stash`; all the work is done by BenchSession.
"""

from __future__ import annotations

import signal
import warnings
from collections.abc import Callable, Generator
from pathlib import Path
from typing import Any

import pytest

from benchharness.cli_options import (
    Filters,
    Options,
    given_once,
    parse_duration,
    parse_gate_overrides,
    parse_list,
)
from benchharness.config import load_settings
from benchharness.devices import DEVICE_CHOICES, resolve_devices
from benchharness.errors import BenchHarnessError, ConfigError, RenamedSetting
from benchharness.history.store import resolve_url
from benchharness.matrix import Case, nothing_selected, suite_names
from benchharness.report import progress
from benchharness.report.profiles_view import profile_lines
from benchharness.report.terminal import (
    bandwidth_line,
    flag_lines,
    machine_lines,
    policy_lines,
    recommendation_lines,
    table,
    undecided_lines,
)
from benchharness.session import BenchSession

SESSION_KEY = pytest.StashKey[BenchSession]()
SUMMARY_KEY = pytest.StashKey[list[str]]()
PROGRESS_KEY = pytest.StashKey["progress.ProgressDisplay"]()
HEADER_KEY = pytest.StashKey[list[str]]()  # the run header's notes: old names read, options given twice
REFUSED_KEY = pytest.StashKey[list[str]]()  # usage errors found while parametrizing, raised after collection
XDIST_REASON = (
    "timing is unreliable under pytest-xdist; run benchmark suites without -n (correctness tests may still use it)"
)


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("benchharness", "benchmark suites (benchharness)")
    # Each value-taking option is appended, not overwritten, so pytest_configure sees every value: the last
    # counts, as pytest reads options, and the header says so; under both its names it is refused (_given_once).
    group.addoption(
        "--device",
        action="append",
        help=f"devices to run: {'|'.join(DEVICE_CHOICES)}, cuda:N, or a comma list (default: auto = every type, one cuda:N per GPU; absent ones skipped)",
    )
    group.addoption("--backend", action="append", help="only these backends (comma list)")
    group.addoption("--model", action="append", help="only these models (comma list)")
    group.addoption(
        "--variant",
        action="append",
        help="only these variants, e.g. q4_0,q8_0 (the reference is still measured for gates; --quant: its old name)",
    )
    group.addoption(
        "--quant",  # its name before 2026-12: read as --variant, with a header line saying so
        action="append",
        help="the old name of --variant",
    )
    group.addoption(
        "--gate",
        action="append",
        default=[],
        metavar="NAME=MIN",
        help="override a gate threshold, e.g. --gate speedup=1.5",
    )
    group.addoption(
        "--save-baseline", action="store_true", help="record this run as the machine's baseline (only if no case fails)"
    )
    group.addoption("--no-baseline", action="store_true", help="do not compare with the stored baseline")
    group.addoption(
        "--baseline-any-machine", action="store_true", help="compare with a baseline recorded on a different machine"
    )
    group.addoption(
        "--baseline-file",
        action="append",
        metavar="PATH",
        help="compare with this baseline file (e.g. another lab machine's baselines/<id>.json), whoever recorded it",
    )
    group.addoption(
        "--report",
        action="append",
        metavar="PATH",
        help="write the HTML report here (default: reports/report-<time>.html, and reports/latest.html; a missing "
        "folder is made)",
    )
    group.addoption(
        "--history",
        action="append",
        metavar="URL",
        help="append the run to this history store: sqlite:///PATH, postgresql://USER@HOST/DB, a file, or off "
        "(default: reports/history.sqlite)",
    )
    group.addoption(
        "--bench-config", action="append", metavar="FILE", help="extra TOML settings, same keys as [tool.benchharness]"
    )
    group.addoption(
        "--bench-set", action="append", default=[], metavar="KEY=VALUE", help="one setting, e.g. workload.gen_tokens=16"
    )
    group.addoption(
        "--time-budget",
        action="append",
        metavar="DURATION",
        help="spread extra pairs over the matrix within this wall time, e.g. 30m (decisive cases stop early)",
    )


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "benchsuite(name): the [tool.benchharness.suites.NAME] this test's cases come from"
    )
    try:
        if config.getoption("save_baseline") and config.getoption("no_baseline"):
            raise BenchHarnessError(
                "--save-baseline and --no-baseline contradict each other; --save-baseline already skips the comparison"
            )
        notes: list[str] = []  # the run header's lines: old names read, options given twice
        once = _given_once(config, notes)
        extra = once("--bench-config")
        with warnings.catch_warnings(record=True) as renamed:
            warnings.simplefilter("always", RenamedSetting)
            settings = load_settings(
                config.rootpath,
                Path(extra) if extra else None,
                tuple(config.getoption("bench_set")),
            )
        # A key read under its old name is a line in the run's header, not a Python warning: a project that
        # turns warnings into errors (filterwarnings = error) must still run with its old config.
        notes += [str(w.message) for w in renamed if issubclass(w.category, RenamedSetting)]
        notes += ["--quant is now called --variant; rename the option"] if config.getoption("quant") else []
        for w in renamed:
            if not issubclass(w.category, RenamedSetting):
                warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
        report, baseline_file = once("--report"), once("--baseline-file")
        options = Options(
            devices=resolve_devices(once("--device") or "auto"),
            filters=Filters(
                models=parse_list("--model", once("--model")),
                variants=parse_list("--variant", once("--variant")),
                backends=parse_list("--backend", once("--backend")),
            ),
            gate_overrides=parse_gate_overrides(config.getoption("gate")),
            save_baseline=config.getoption("save_baseline"),
            compare_baseline=not config.getoption("no_baseline"),
            baseline_any_machine=config.getoption("baseline_any_machine"),
            baseline_file=Path(baseline_file) if baseline_file else None,
            time_budget_s=parse_duration("--time-budget", once("--time-budget")),
            report=Path(report) if report else None,
            history=once("--history"),
        )
        config.stash[HEADER_KEY] = notes
        resolve_url(options.history, settings.results_dir)  # a bad --history fails now, not after the run
        if options.baseline_file is not None and not options.baseline_file.is_file():
            raise BenchHarnessError(
                f"--baseline-file {options.baseline_file} is not a file; name a baselines/<machine>.json"
            )
        display = progress.PytestProgress(config)
        config.stash[PROGRESS_KEY] = display
        config.stash[SESSION_KEY] = BenchSession(settings, options, display)
        if signal.getsignal(signal.SIGTERM) is signal.SIG_DFL:  # never replace a handler someone else set
            signal.signal(signal.SIGTERM, _stop_on_sigterm)
    except (BenchHarnessError, ValueError) as e:
        raise pytest.UsageError(f"benchharness: {e}") from None


LISTED = ("--device", "--backend", "--model", "--variant")  # options that take a comma list
OLD_NAMES = {"--variant": ("--quant",)}


def _given_once(config: pytest.Config, notes: list[str]) -> Callable[[str], str | None]:
    """A reader of each value-taking option: the last value counts (a note in `notes` where there were
    several), and one given under both its names is refused."""

    def once(option: str) -> str | None:
        given = [
            (name, str(value))
            for name in (option, *OLD_NAMES.get(option, ()))
            for value in config.getoption(name.lstrip("-").replace("-", "_")) or ()
        ]
        value, note = given_once(option, given, listed=option in LISTED)
        notes.extend([note] if note else [])
        return value

    return once


def _stop_on_sigterm(signum: int, frame: object) -> None:
    """SIGTERM (timeout, a CI runner's cancel) ends the run as Ctrl-C does: children killed, results written."""
    raise KeyboardInterrupt(f"benchharness: stopped by {signal.Signals(signum).name}")


def pytest_report_header(config: pytest.Config) -> list[str]:
    return [f"benchharness: {line}" for line in config.stash.get(HEADER_KEY, [])]


def pytest_unconfigure(config: pytest.Config) -> None:
    session = config.stash.get(SESSION_KEY, None)
    if session is not None:
        session.close()


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "bench_case" not in metafunc.fixturenames:
        return
    try:
        cases = _suite_cases(metafunc)
    except BenchHarnessError as e:
        # Raised here, pytest would file it as a collection error with a traceback; it is a usage error,
        # raised once collection is over (pytest_collection_modifyitems), in one line, exit 4.
        metafunc.config.stash.setdefault(REFUSED_KEY, []).append(f"benchharness: {e}")
        return
    session = metafunc.config.stash[SESSION_KEY]
    under_xdist = hasattr(metafunc.config, "workerinput")
    params = []
    for case in cases:
        reason = XDIST_REASON if under_xdist else case.skip_reason
        marks: list[pytest.MarkDecorator] = [pytest.mark.skip(reason=reason)] if reason else []
        known = session.known_breaches(case)
        if known and not reason:
            strict = session.suite(case.suite).strict_policy
            why = f"declared known breach of {', '.join(known)}"
            marks.append(pytest.mark.xfail(raises=KnownBreach, strict=strict, reason=why))
        params.append(pytest.param(case, id=case.id, marks=marks))
    marker = metafunc.definition.get_closest_marker("benchsuite")
    if not params and marker is not None:  # one skipped entry that says why, not 'got empty parameter set'
        suite = session.suite(str(marker.args[0]))
        names = suite_names(suite, session.models, session.backends)
        reason = nothing_selected(suite, names, session.options.devices, session.options.filters)
        params.append(pytest.param(None, id="nothing-selected", marks=[pytest.mark.skip(reason=reason)]))
    metafunc.parametrize("bench_case", params)


def _suite_cases(metafunc: pytest.Metafunc) -> list[Case]:
    """The cases of the suite a test function names, or the reason this command line cannot run them."""
    marker = metafunc.definition.get_closest_marker("benchsuite")
    if marker is None or not marker.args:
        raise ConfigError(f"{metafunc.definition.nodeid}: uses bench_case but has no @pytest.mark.benchsuite('NAME')")
    if metafunc.config.getoption("benchmark_only", False):
        raise ConfigError(
            "--benchmark-only is pytest-benchmark's option: it skips every test without its `benchmark` "
            "fixture, so every benchharness case, and nothing would be measured; drop it "
            "(benchharness suites measure through `bench`)"
        )
    return metafunc.config.stash[SESSION_KEY].cases(str(marker.args[0]))


@pytest.hookimpl(tryfirst=True)
def pytest_collection_modifyitems(config: pytest.Config) -> None:
    refused = config.stash.get(REFUSED_KEY, [])
    if refused:
        raise pytest.UsageError(refused[0])


class KnownBreach(Exception):
    """What a known-breach case's xfail mark accepts (`raises=`), so a crash or an undeclared breach still fails.

    The harness itself xfails such a case imperatively (pytest.xfail), because only that reason reaches
    the terminal and JUnit XML: it carries each verdict with its interval, not only the gate names.
    """


class CaseChecker:
    """What a suite's test calls: measure the case, judge it, and turn verdicts into an outcome."""

    def __init__(self, session: BenchSession, display: progress.ProgressDisplay | None = None) -> None:
        self.session = session
        self.display = display

    def check(self, case: Case) -> None:
        error: str | None = None
        try:
            record = self.session.run(case)
        except BenchHarnessError as e:
            failed = self.session.records[case.key]
            failed.message = str(e)  # the cause, once: the results and the report show it as the terminal does
            failed.log_tail = list(getattr(e, "log_tail", ()))
            shown = "".join(f"\n    {line}" for line in failed.log_tail)
            error = f"{e}\n  last output of the child:{shown}" if shown else str(e)
        finally:
            if self.display is not None:
                self.display.clear()  # pytest writes the case's result next, on a clean line
        if error is not None:
            pytest.fail(error, pytrace=False)  # outside the except block: no chained exception to print
        policy = self.session.suite(case.suite).inconclusive
        failing = ("fail", "inconclusive") if policy == "fail" else ("fail",)
        failures = [v.message for v in record.verdicts if v.status in failing and not v.known_breach]
        # A declared gate or limit that could not be judged is not a pass: it fails with its reason.
        failures += [
            f"not judged: {v.message}"
            for v in record.verdicts
            if v.status == "unavailable" and v.check in ("gate", "limit")
        ]
        if failures:
            pytest.fail("\n".join(failures), pytrace=False)
        known = [v.message for v in record.verdicts if v.known_failure]
        if known:
            pytest.xfail("; ".join(known))


@pytest.fixture
def bench(request: pytest.FixtureRequest) -> CaseChecker:
    """The session's case checker: `bench.check(bench_case)` measures, gates and compares one case."""
    return CaseChecker(request.config.stash[SESSION_KEY], request.config.stash.get(PROGRESS_KEY, None))


def _case_of(item: pytest.Item) -> Case | None:
    callspec = getattr(item, "callspec", None)
    case = callspec.params.get("bench_case") if callspec else None
    return case if isinstance(case, Case) else None


def pytest_deselected(items: list[pytest.Item]) -> None:
    """Cases left out by -k, -m or node ids say so (a reference measured anyway says why, see session)."""
    if not items:
        return
    bench = items[0].config.stash.get(SESSION_KEY, None)
    for item in items:
        case = _case_of(item)
        record = bench.records.get(case.key) if bench is not None and case is not None else None
        if record is not None and record.outcome == "pending":
            record.outcome = "deselected"
            record.message = "deselected (-k, -m or node ids)"


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Generator[None, Any, Any]:
    report = yield
    case = _case_of(item)
    if case is None:
        return report
    record = item.config.stash[SESSION_KEY].records.get(case.key)
    if record is None:
        return report
    record.test_name = getattr(item, "originalname", item.name)
    record.nodeid = item.nodeid
    if report.when == "call" or (report.when == "setup" and not report.passed):
        if hasattr(report, "wasxfail"):
            record.outcome = "xpassed" if report.passed else "xfailed"
        elif report.skipped:
            record.outcome = "skipped"
            record.message = str(report.longrepr[2]) if isinstance(report.longrepr, tuple) else None
        else:
            record.outcome = report.outcome
            if report.failed and record.message is None:
                record.message = failure_cause(report)
    return report


def failure_cause(report: pytest.TestReport) -> str:
    """The failure's own message, whole: pytest.fail's text, or the exception line of a traceback."""
    crash = getattr(report.longrepr, "reprcrash", None)
    return str(crash.message) if crash is not None else str(report.longrepr)


def pytest_sessionfinish(session: pytest.Session) -> None:
    bench = session.config.stash.get(SESSION_KEY, None)
    if bench is not None:
        session.config.stash[SUMMARY_KEY] = bench.finish()
        if bench.recorder.unwritten and session.exitstatus == pytest.ExitCode.OK:
            session.exitstatus = pytest.ExitCode.TESTS_FAILED  # a file the user asked for was not written


def pytest_terminal_summary(terminalreporter: Any, config: pytest.Config) -> None:
    bench = config.stash.get(SESSION_KEY, None)
    result = bench.recorder.result if bench is not None else None
    cases = result.cases if result is not None else ()
    if not any(r.measurement for r in cases):
        for line in config.stash.get(SUMMARY_KEY, []):
            terminalreporter.write_line(f"benchharness: {line}")
        return
    assert bench is not None and result is not None  # cases come from its result
    terminalreporter.section("benchharness")
    for line in table(cases):
        terminalreporter.write_line(line)
    for record in cases:
        for warning in record.measurement.warnings if record.measurement else ():
            terminalreporter.write_line(f"warning: {record.case.id}: {warning}")
    for line in undecided_lines(cases):
        terminalreporter.write_line(line)
    for line in profile_lines(cases):
        terminalreporter.write_line(line)
    for line in flag_lines(cases):
        terminalreporter.write_line(line)
    machine = machine_lines(bench.noise_text(), bench.outside_loads(), bench.threads)
    for line in machine + bandwidth_line(bench.runner.bandwidth):
        terminalreporter.write_line(line)
    for line in policy_lines(cases):
        terminalreporter.write_line(line)
    for line in recommendation_lines(result):  # before the target lines, which name it
        terminalreporter.write_line(line)
    for line in config.stash.get(SUMMARY_KEY, []):
        terminalreporter.write_line(line)
