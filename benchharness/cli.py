"""`benchharness compare | merge | report | recommend | history | init | fetch-llama-converter`: the commands around a run.

compare, merge, report, recommend and history work on stored results; init writes a suite file and a commented
configuration for a team's own checkpoint folder (benchharness/scaffold.py); fetch-llama-converter is
a set-up step (online, once per llama-cpp-python version) that GGUF variants of a checkpoint need.

Every input may be a results JSON, a lab's merged results JSON, or an HTML report written by benchharness (a
report embeds its results; a lab report's first page names the merged results file in its folder). Bad input is a one-line error on stderr and exit status 2; `--fail-on-regression` makes
a regression exit 1.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from benchharness.errors import BenchHarnessError

if TYPE_CHECKING:
    from benchharness.history.store import HistoryStore
    from benchharness.results import RunResult
    from benchharness.settings import Target

EXIT_REGRESSION = 1
EXIT_BAD_INPUT = 2


def _load(paths: Sequence[str]) -> list[RunResult]:
    from benchharness.results import load_runs

    runs: list[RunResult] = []
    for p in paths:
        runs += load_runs(Path(p))
    return runs


def _history(url: str | None, results_dir: Path) -> HistoryStore | None:
    from benchharness.history.store import HistoryStore, resolve_url

    resolved = resolve_url(url, results_dir)
    return None if resolved is None else HistoryStore(resolved)


def cmd_compare(args: argparse.Namespace) -> int:
    from benchharness.compare import compare_runs
    from benchharness.report.compare_view import terminal_summary, write_compare
    from benchharness.storage import new_folder_note

    old, new = _load([args.old]), _load([args.new])
    history = None
    if args.history is not None:
        history = _history(args.history, Path(args.new).parent)
    elif (Path(args.new).parent / "history.sqlite").is_file():
        history = _history(None, Path(args.new).parent)
    comparison = compare_runs(old, new, history)
    for line in terminal_summary(comparison):
        print(line)
    if args.html:
        note = new_folder_note(Path(args.html))
        print(f"compare report: {write_compare(Path(args.html), comparison, old, new)}{note}")
    if args.fail_on_regression and comparison.regressions:
        print(f"{len(comparison.regressions)} regression(s): failing (--fail-on-regression)", file=sys.stderr)
        return EXIT_REGRESSION
    return 0


def cmd_merge(args: argparse.Namespace) -> int:
    from benchharness.history.store import resolve_url
    from benchharness.report.lab_pages import files_dir, write_lab
    from benchharness.report.merge import merge_runs
    from benchharness.storage import new_folder_note

    runs, notes = merge_runs(_load(args.results))
    for note in notes:
        print(f"note: {note}")
    history_url = resolve_url(args.history, Path(args.out).parent) if args.history else None
    targets = tuple(_targets(args.config)[1].values()) if args.config else ()
    note = new_folder_note(Path(args.out))
    path, drawn = write_lab(Path(args.out), runs, history_url, title=args.title, targets=targets)
    print(f"lab report: {path} ({len(runs)} machine(s): {', '.join(r.machine_id for r in runs)}){note}")
    print(
        f"machine pages and merged results: {files_dir(path)}/ ({drawn} page(s) drawn here, "
        f"{len(runs) - drawn} the machines' own reports)"
    )
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    from benchharness.report.html import write_report
    from benchharness.storage import new_folder_note

    runs = _load([args.results])
    history = _history(args.history, Path(args.results).parent) if args.history else None
    targets = tuple(_targets(args.config)[1].values()) if args.config else ()
    note = new_folder_note(Path(args.out))
    print(f"report: {write_report(Path(args.out), runs, history, title=args.title, targets=targets)}{note}")
    return 0


def _targets(path: str) -> tuple[str, dict[str, Target]]:
    """The targets a configuration file declares (pyproject.toml's [tool.benchharness], or a bare settings file)."""
    from benchharness.config import parse_targets
    from benchharness.toml_table import read_toml

    config = Path(path)
    data = read_toml(config)
    table = data.get("tool", {}).get("benchharness", {}) if "tool" in data else data
    where = f"{config.name} [tool.benchharness.targets]"
    return where, parse_targets(table.get("targets"), where)


def cmd_recommend(args: argparse.Namespace) -> int:
    """Each target's answer per machine, model and device, from results files or (lab) reports."""
    from benchharness.report.targets import target_lines

    where, targets = _targets(args.config)
    if not targets:
        raise BenchHarnessError(f"{where} defines no target; add one, e.g. [tool.benchharness.targets.phone]")
    if args.target is not None and args.target not in targets:
        raise BenchHarnessError(f"no target {args.target!r} in {where}; defined: {', '.join(targets)}")
    chosen = [targets[args.target]] if args.target else list(targets.values())
    for line in target_lines(_load(args.results), chosen):
        print(line)
    return 0


def cmd_history(args: argparse.Namespace) -> int:
    from benchharness.history.changepoints import detect
    from benchharness.history.show import series_lines

    store = _history(args.history, Path("reports"))
    if store is None:
        raise BenchHarnessError("--history off leaves no store to use; pass a URL or a file path")
    if store.missing_indexes and args.action != "append":
        print(
            f"note: the history lacks the index(es) {'; '.join(store.missing_indexes)}, and this user could not add "
            "them: reads scan whole series until a user who may write opens it once",
            file=sys.stderr,
        )
    if args.action == "digest":
        return _digest(store, args)
    if args.action == "append":
        for run in _load(args.results):
            added = store.append(run)
            print(
                f"{run.source}: {'appended' if added else 'already in the history'} ({run.machine_id}, {run.started})"
            )
        return 0
    if not (args.machine and args.case and args.metric):
        raise BenchHarnessError(
            "history show needs --machine ID --case SUITE::CASE --metric NAME (e.g. decode_tok_per_s or gate:speedup)"
        )
    points = store.series(args.machine, args.case, args.metric, args.last)
    if not points:
        raise BenchHarnessError(_no_series(store, args.machine, args.case, args.metric))
    for line in series_lines(args.machine, args.case, args.metric, points, detect([p.value for p in points])):
        print(line)
    return 0


def _no_series(store: HistoryStore, machine: str, case: str, metric: str) -> str:
    """Which of the three names has no history, and the nearest ones that do (a one-line error)."""
    import difflib

    for what, name, known in (
        ("machine", machine, lambda: store.names()),
        ("case", case, lambda: store.names(machine)),
        ("metric", metric, lambda: store.names(machine, case)),
    ):
        valid = known()
        if name not in valid:
            near = difflib.get_close_matches(name, valid, n=3, cutoff=0.3) or valid[:3]
            where = "" if what == "machine" else f" on {machine}" + ("" if what == "case" else f" for {case}")
            return (
                f"no history for {what} {name!r}{where}; nearest: {', '.join(near) or 'none stored'} "
                f"({len(valid)} in the store)"
            )
    return f"no history for {metric} of {case} on {machine}"


def _digest(store: HistoryStore, args: argparse.Namespace) -> int:
    """The nightly digest: one line per alarm (history/alarms.py), or the same as JSON with --json."""
    import json

    from benchharness.history.digest import as_json, digest, lines
    from benchharness.history.recent import read_recent
    from benchharness.storage import new_folder_note, write_text_atomic

    if args.days < 0:
        raise BenchHarnessError(f"--days {args.days}: must not be negative; use 7 for the last week's alarms")
    found = digest(read_recent(store, args.last), days=args.days)
    document = json.dumps(as_json(found), indent=1, sort_keys=True) + "\n"
    if args.json == "-":
        print(document, end="")
        return 0
    if args.json is not None:  # its folder is made, as every other output path's is
        note = new_folder_note(Path(args.json))
        write_text_atomic(Path(args.json), document)
        if note:
            print(f"--json {args.json}:{note}", file=sys.stderr)
    for line in lines(found):
        print(line)
    return 0


def cmd_init(args: argparse.Namespace) -> int:
    from benchharness import scaffold

    plan = scaffold.scaffold(Path(args.checkpoint), Path.cwd(), args.name, args.kind, args.config)
    scaffold.write(plan)
    for path in plan.files:
        print(f"wrote {path.name}")
    print(f"next: add your evaluation data (see the commented [data] table), then run: {plan.next_step}")
    return 0


def cmd_fetch_llama_converter(args: argparse.Namespace) -> int:
    from benchharness.formats import llamacpp_converter

    llamacpp_converter.fetch()
    return 0


def _runs(text: str) -> int:
    """`--last N`: a count of runs, 1 or more (SQLite reads a negative limit as none, PostgreSQL refuses it)."""
    try:
        count = int(text)
    except ValueError:
        count = 0
    if count < 1:
        raise argparse.ArgumentTypeError(f"{text!r} is not a count of runs; give 1 or more, e.g. --last 30")
    return count


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="benchharness", description=__doc__.splitlines()[0] if __doc__ else None)
    sub = top.add_subparsers(dest="command", required=True)

    c = sub.add_parser("compare", help="what changed between two runs (results JSON or HTML reports)")
    c.add_argument("old")
    c.add_argument("new")
    c.add_argument("--html", metavar="PATH", help="also write an HTML diff report here (a missing folder is made)")
    c.add_argument("--fail-on-regression", action="store_true", help="exit 1 when any figure regressed past the noise")
    c.add_argument(
        "--history",
        metavar="URL",
        help="the machines' other runs (history store URL or SQLite path; default: history.sqlite beside NEW if "
        "there, 'off' for none): how far each figure moves between runs of unchanged code",
    )
    c.set_defaults(func=cmd_compare)

    m = sub.add_parser("merge", help="results of several machines into one lab report")
    m.add_argument("results", nargs="+")
    m.add_argument(
        "--out",
        required=True,
        metavar="PATH",
        help="the lab report's first page (HTML); its machine pages and merged results go in PATH's stem + _files/ "
        "(a missing folder is made)",
    )
    m.add_argument(
        "--history", metavar="URL", help="show trends from this history store (sqlite:///..., postgresql://...)"
    )
    m.add_argument("--title", default=None)
    m.add_argument("--config", metavar="PATH", help="answer the deployment targets this file declares, per machine")
    m.set_defaults(func=cmd_merge)

    r = sub.add_parser("report", help="write the HTML report of a results file")
    r.add_argument("results")
    r.add_argument("--out", required=True, metavar="PATH", help="the HTML report (a missing folder is made)")
    r.add_argument("--history", metavar="URL", help="show trends from this history store")
    r.add_argument("--title", default=None)
    r.add_argument("--config", metavar="PATH", help="answer the deployment targets this file declares")
    r.set_defaults(func=cmd_report)

    rc = sub.add_parser("recommend", help="what to ship on each deployment target, from results or reports")
    rc.add_argument("results", nargs="+", help="results JSON or HTML reports (a lab report: answered per machine)")
    rc.add_argument("--target", metavar="NAME", help="one [tool.benchharness.targets.NAME] (default: every target)")
    rc.add_argument("--config", default="pyproject.toml", help="where the targets are declared (default: %(default)s)")
    rc.set_defaults(func=cmd_recommend)

    h = sub.add_parser(
        "history",
        help="append runs to the history store, show one figure's series, or digest the lab's alarms",
    )
    h.add_argument("action", choices=["append", "show", "digest"])
    h.add_argument("results", nargs="*", help="results JSON or HTML reports (append)")
    h.add_argument(
        "--history", metavar="URL", default=None, help="database URL or SQLite path (default reports/history.sqlite)"
    )
    h.add_argument("--machine")
    h.add_argument("--case", help="suite::case id")
    h.add_argument("--metric", help="a metric, or gate:<name> for a gate ratio")
    h.add_argument("--last", type=_runs, default=30, help="runs per series (per machine for digest)")
    h.add_argument(
        "--days",
        type=int,
        default=7,
        help="digest: alarms whose first night lies within this many nights of the newest run (default %(default)s)",
    )
    h.add_argument(
        "--json",
        nargs="?",
        const="-",
        metavar="PATH",
        help="digest: the alarms as JSON, for CI: alone, printed instead of the lines; with a PATH, written there too "
        "(a missing folder is made)",
    )
    h.set_defaults(func=cmd_history)

    i = sub.add_parser("init", help="write a suite file and a commented configuration for a checkpoint folder")
    i.add_argument("checkpoint", help="a Hugging Face checkpoint folder (config.json, weights, tokenizer)")
    i.add_argument("--name", help="the model's name (default: the folder's name)")
    i.add_argument("--kind", choices=["causal-lm", "encoder"], help="default: read off config.json's architectures")
    i.add_argument("--config", default="pyproject.toml", help="the configuration file to write (default: %(default)s)")
    i.set_defaults(func=cmd_init)
    f = sub.add_parser(
        "fetch-llama-converter",
        help="set-up, online: llama.cpp's convert_hf_to_gguf.py from the installed llama-cpp-python's sdist "
        "(GGUF variants of a checkpoint model need it)",
    )
    f.set_defaults(func=cmd_fetch_llama_converter)
    return top


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return int(args.func(args))
    except BenchHarnessError as e:
        print(f"benchharness {args.command}: {e}", file=sys.stderr)
        return EXIT_BAD_INPUT


if __name__ == "__main__":
    sys.exit(main())
