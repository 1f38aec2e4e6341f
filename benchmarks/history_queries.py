"""Series queries at a year of fifty machines: how long each reader of the history store waits, SQLite and PostgreSQL.

    python benchmarks/history_queries.py --out /tmp/hq --postgres \\
        --record benchmarks/results/history_queries.md

Issue 28 part 5. A lab's store after a year: 50 machines x 365 nights (synthetic_lab.py's plan and
NightMaker: machines join late and leave early, drifts, steps, the noise of three real A/A runs),
but only CASES (8 of the default suite's 25 measured cases, ~120 figures a run instead of 353), so
the year is built in minutes on a 2-core machine: the series are as long as a year's and there are
as many runs, and the figure table has ~2 million rows. Every query timed here reads one machine's
series through an index, so its time grows with the rows it returns, not the table's size (the
EXPLAIN plans are recorded beside the timings); a lab with all 500 cases has a bigger table, the same
reads.

The store is filled through HistoryStore's own tables and `figures()` rows, one transaction per night
(the 50 machines' runs of that night) rather than `append`'s one per run: 18,000 commits would take
the budget of the whole measurement. The readers timed, each `--repeat` times on a store already
open except `history show` (median, min-max):

- `history show` of one series: the CLI command in this process (opening the store, its index
  check, the read, change points, printing), without Python's start-up;
- the session's earlier-runs read for one case: every figure of the case, per figure (`series`,
  the session's loop today) and batched (`series_many`);
- the report's trends for one run: every trend figure of every case of the run, per figure (the
  report's loop today) and batched (`series_table`, one query per suite);
- the nightly digest's reads: every series of every machine's last 30 runs, as `history digest`
  reads them (history/recent.py's read_recent: the runs, then one query per machine); per figure
  only for one machine (the per-figure read of the whole lab takes minutes).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import signal
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import nullcontext
from pathlib import Path
from typing import Any

import synthetic_lab as lab_gen

from benchharness import kinds
from benchharness.history.recent import read_recent
from benchharness.history.store import HistoryStore, figures, run_uid
from benchharness.results import RunResult

CASES = (
    "smollm2-llamacpp::smollm2-135m-q4_0-llamacpp-cpu",
    "smollm2-llamacpp::smollm2-135m-q8_0-llamacpp-cpu",
    "smollm2-llamacpp::smollm2-135m-f16-llamacpp-cpu",
    "smollm2-onnxruntime::smollm2-135m-int4-onnxruntime-cpu",
    "smollm2-openvino-genai::smollm2-135m-int8-openvino-genai-cpu",
    "minilm-encoder::minilm-l6-int8-onnxruntime-cpu",
    "minilm-encoder::minilm-l6-fp32-openvino-cpu",
    "digits-classifier::digits-mlp-int8-onnxruntime-cpu",
)
LAST = 30  # the report's TREND_RUNS; the session reads 20, the digest 30


def build(url: str, maker: lab_gen.NightMaker, lab: lab_gen.Lab) -> dict[str, Any]:
    """A year of the lab appended to the store at `url`, one transaction per night; rows and seconds."""
    import sqlalchemy as sa

    store = HistoryStore(url)
    t0 = time.perf_counter()
    runs = rows = 0
    for night in range(lab.nights):
        results = [
            RunResult.from_dict(maker.document(m, night), f"{m.machine_id}-{night}.json")
            for m in lab.machines
            if m.first_night <= night <= m.last_night
        ]
        with store.engine.begin() as conn:
            for run in results:
                row = {
                    "uid": run_uid(run),
                    "machine_id": run.machine_id,
                    "started": run.started,
                    "git_commit": run.git_commit,
                    "machine": json.dumps(run.machine, sort_keys=True),
                    "packages": json.dumps(run.packages, sort_keys=True),
                }
                inserted = conn.execute(sa.insert(store.runs).values(**row)).inserted_primary_key
                assert inserted is not None
                figs = [{**f, "run_id": inserted[0], "machine_id": run.machine_id} for f in figures(run)]
                conn.execute(sa.insert(store.figures), figs)
                runs += 1
                rows += len(figs)
    seconds = time.perf_counter() - t0
    if url.startswith("postgresql"):
        # autovacuum analyses a table that grew, in a store that lives a year; a fresh bulk load is
        # timed in that steady state rather than before the server's first look at its statistics
        with store.engine.connect() as conn:
            conn.execution_options(isolation_level="AUTOCOMMIT").execute(sa.text("VACUUM ANALYZE"))
    store.close()
    return {"runs": runs, "rows": rows, "build_s": seconds}


def migrate(url: str) -> float:
    """Seconds the first open of this year takes when it lacks the indexes part 5 added (an older store)."""
    import sqlalchemy as sa

    store = HistoryStore(url)
    with store.engine.begin() as conn:
        for name in ("ix_bench_figures_series_run", "ix_bench_runs_machine_started"):
            conn.execute(sa.text(f"DROP INDEX IF EXISTS {name}"))
    store.close()
    t0 = time.perf_counter()
    store = HistoryStore(url)
    seconds = time.perf_counter() - t0
    assert store.missing_indexes == (), store.missing_indexes
    store.close()
    return seconds


def timed(fn: Callable[[], Any], repeat: int) -> dict[str, float]:
    """`fn` run `repeat` times: the median and the spread of its wall time, in milliseconds."""
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000)
    return {"median_ms": statistics.median(times), "min_ms": min(times), "max_ms": max(times), "n": repeat}


def trend_names(kind_name: str) -> list[str]:
    """The figures the report draws a trend of, for a case of this kind (report/html.py's _trend_figures)."""
    kind = kinds.kind(kind_name)
    return list(dict.fromkeys([*kind.gate_metrics.values(), *(f"gate:{g}" for g in kind.gate_metrics)]))


def measure(url: str, lab: lab_gen.Lab, template: dict[str, Any], repeat: int) -> dict[str, Any]:
    """Every reader's wait on this store, per figure (today's loops) and batched."""
    from benchharness import cli

    store = HistoryStore(url)
    machine = next(m.machine_id for m in lab.machines if m.first_night == 0 and m.last_night == lab.nights - 1)
    series = lab_gen.template_series(template)
    case = CASES[0]
    case_names = [f for c, f, _ in series if c == case]
    by_suite: dict[str, tuple[list[str], list[str]]] = {}
    for c in template["cases"]:
        if c["key"] in CASES:
            by_suite.setdefault(c["suite"], ([], trend_names(c["kind"])))[0].append(c["key"])
    machine_series = [(c, f) for c, f, _ in series]

    def show() -> None:
        argv = ["history", "show", "--history", url, "--machine", machine, "--case", case]
        with contextlib.redirect_stdout(io.StringIO()):
            assert cli.main([*argv, "--metric", "decode_tok_per_s", "--last", str(LAST)]) == 0

    def session_loop() -> None:
        for name in case_names:
            store.series(machine, case, name, 20)

    def trends_loop() -> None:
        for keys, names in by_suite.values():
            for name in names:
                for key in keys:
                    store.series(machine, key, name, LAST)

    def trends_batched() -> None:
        for keys, names in by_suite.values():
            store.series_table(machine, keys, names, LAST)

    def digest() -> None:
        read_recent(store, LAST)

    def digest_one_loop() -> None:
        for key, name in machine_series:
            store.series(machine, key, name, LAST)

    # the batched reads give what the loops give (else the timing compares different work)
    assert store.series_many(machine, case, case_names, 20) == {
        n: store.series(machine, case, n, 20) for n in case_names
    }
    out = {
        "history show of one series": timed(show, repeat),
        "session: one case's figures, per figure": timed(session_loop, repeat),
        "session: one case's figures, series_many": timed(
            lambda: store.series_many(machine, case, case_names, 20), repeat
        ),
        "report: one run's trends, per figure": timed(trends_loop, max(3, repeat // 4)),
        "report: one run's trends, series_table per suite": timed(trends_batched, repeat),
        "digest: one machine's series, per figure": timed(digest_one_loop, max(3, repeat // 10)),
        f"digest: all {len(lab.machines)} machines' series, read_recent": timed(digest, max(3, repeat // 4)),
    }
    counts = {
        "case figures": len(case_names),
        "trend series": sum(len(k) * len(n) for k, n in by_suite.values()),
        "suites": len(by_suite),
        "machine series": len(machine_series),
        "machine": machine,
    }
    plans = explain(store, machine, case, case_names, by_suite)
    store.close()
    return {"timings": out, "counts": counts, "plans": plans}


def explain(
    store: HistoryStore, machine: str, case: str, names: list[str], by_suite: dict[str, tuple[list[str], list[str]]]
) -> dict[str, str]:
    """The database's plan for each query (which index it reads), as evidence beside the timings."""
    import sqlalchemy as sa

    postgres = store.engine.dialect.name == "postgresql"
    keys, trend = next(iter(by_suite.values()))
    reads: dict[str, Callable[[], Any]] = {
        "series": lambda: store.series(machine, case, "decode_tok_per_s", LAST),
        "series_many": lambda: store.series_many(machine, case, names, 20),
        "series_table": lambda: store.series_table(machine, keys, trend, LAST),
        "read_recent (the digest)": lambda: read_recent(store, LAST),
    }
    captured: dict[str, list[tuple[str, Any]]] = {}
    for name, read in reads.items():
        statements: list[tuple[str, Any]] = []

        def grab(conn: Any, cursor: Any, statement: str, parameters: Any, *rest: Any) -> None:
            statements.append((statement, parameters))  # noqa: B023 (read before the next loop)

        sa.event.listen(store.engine, "before_cursor_execute", grab)
        read()
        sa.event.remove(store.engine, "before_cursor_execute", grab)
        captured[name] = statements[:2]  # read_recent: the runs, then the first machine's figures (of 50 alike)
    plans = {}
    with store.engine.connect() as conn:
        raw = conn.connection.driver_connection
        assert raw is not None
        for name, statements in captured.items():
            for i, (statement, parameters) in enumerate(statements, 1):
                prefix = "EXPLAIN (ANALYZE, COSTS OFF) " if postgres else "EXPLAIN QUERY PLAN "
                cursor = raw.cursor()
                cursor.execute(prefix + statement, parameters)
                lines = [" | ".join(str(c) for c in row) for row in cursor.fetchall()]
                plans[name if len(statements) == 1 else f"{name}, query {i}"] = "\n".join(lines)
    return plans


@contextlib.contextmanager
def store_url(backend: str, out: Path, reuse: bool) -> Iterator[str]:
    if backend == "PostgreSQL":
        with lab_gen.postgres() as url:
            yield url
    else:
        path = out / "history.sqlite"
        if not reuse:
            path.unlink(missing_ok=True)
        with nullcontext(f"sqlite:///{path.resolve()}") as url:
            yield url


def reused(url: str, lab: lab_gen.Lab) -> dict[str, Any] | None:
    """The year already in the SQLite store from an earlier run with the same lab (None: build it)."""
    import sqlalchemy as sa

    store = HistoryStore(url)
    runs = store.run_count()
    expected = sum(m.last_night - m.first_night + 1 for m in lab.machines)
    if runs == 0:
        return None
    if runs != expected:
        raise SystemExit(f"{store.file} holds {runs} runs, not this lab's {expected}; remove it or drop --reuse")
    with store.engine.connect() as conn:
        rows = int(conn.execute(sa.select(sa.func.count()).select_from(store.figures)).scalar_one())
    return {"runs": runs, "rows": rows, "build_s": None}


def record(path: Path, command: str, lab: lab_gen.Lab, results: dict[str, dict[str, Any]], repeat: int) -> None:
    load = os.getloadavg()
    lines = [
        "# Series queries at a year of fifty machines (issue 28 part 5)",
        "",
        f"Made by: `{command}`",
        "",
        f"Load (`uptime`) at the end: {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} on 2 shared cores: absolute times are "
        "inflated by other work; the per-figure / batched ratios were measured side by side in one run.",
        "",
        f"The lab: synthetic_lab.py's plan, seed {lab.seed}, {len(lab.machines)} machines x {lab.nights} nights "
        f"(machines joining late and leaving early), the cases below only ({len(CASES)} of the default suite's 25, "
        "so the year builds in minutes; every read is an index range over one machine's series, which is as "
        "long as a full lab's). Times are medians of the repeats with min-max; the store is open except for "
        "`history show`, which opens it as the command does.",
        "",
        "Cases: " + ", ".join(f"`{c}`" for c in CASES),
        "",
    ]
    for backend, r in results.items():
        c = r["counts"]
        lines += [
            f"## {backend}: {r['runs']} runs, {r['rows']:,} figure rows, "
            + (f"built in {r['build_s']:.0f} s" if r["build_s"] is not None else "built by an earlier run (--reuse)"),
            "",
            f"An old store's first open (this year without the indexes of issue 28 part 5, as a store made "
            f"before them): {r['migrate_s']:.1f} s to add them; nothing stored changes.",
            "",
            f"Machine `{c['machine']}`; one case = {c['case figures']} figures; one run's trends = {c['trend series']} "
            f"series in {c['suites']} suites; one machine = {c['machine series']} series.",
            "",
            "| read | repeats | median | min - max |",
            "|---|---:|---:|---:|",
        ]
        for name, t in r["timings"].items():
            lines.append(f"| {name} | {t['n']} | {t['median_ms']:.1f} ms | {t['min_ms']:.1f} - {t['max_ms']:.1f} ms |")
        lines += ["", "Plans:", ""]
        for name, plan in r["plans"].items():
            lines += [f"- `{name}`:", "", "```", plan, "```", ""]
    path.write_text("\n".join(lines).rstrip() + "\n")


def main() -> int:
    top = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    top.add_argument("--machines", type=int, default=50)
    top.add_argument("--nights", type=int, default=365)
    top.add_argument("--seed", type=int, default=1)
    top.add_argument("--repeat", type=int, default=20, help="times each fast read is repeated (slow loops: fewer)")
    top.add_argument("--out", required=True, help="folder for the SQLite store")
    top.add_argument("--postgres", action="store_true", help="also measure on a real PostgreSQL server started here")
    top.add_argument("--record", help="write the markdown record here")
    top.add_argument("--reuse", action="store_true", help="read the SQLite year an earlier run left in --out")
    args = top.parse_args()
    # a run stopped with kill (SIGINT is ignored in the background) still stops its PostgreSQL server
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))
    template = lab_gen.load_template()
    template = {**template, "cases": [c for c in template["cases"] if c["key"] in CASES]}
    noise = json.loads(lab_gen.NOISE.read_text())
    lab = lab_gen.plan(template, noise, args.machines, args.nights, args.seed)
    maker = lab_gen.NightMaker(template, lab)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    results: dict[str, dict[str, Any]] = {}
    for backend in ["SQLite", *(["PostgreSQL"] if args.postgres else [])]:
        with store_url(backend, out, args.reuse) as url:
            made = (args.reuse and backend == "SQLite" and reused(url, lab)) or build(url, maker, lab)
            made["migrate_s"] = migrate(url)
            print(
                f"{backend}: {made['runs']} runs, {made['rows']} rows, built in {made['build_s']} s, "
                f"indexes added to it as to an old store in {made['migrate_s']:.1f} s",
                flush=True,
            )
            results[backend] = {**made, **measure(url, lab, template, args.repeat)}
            for name, t in results[backend]["timings"].items():
                print(
                    f"  {name}: {t['median_ms']:.1f} ms ({t['min_ms']:.1f} - {t['max_ms']:.1f}, n={t['n']})", flush=True
                )
    if args.record:
        command = "python benchmarks/history_queries.py " + " ".join(sys.argv[1:])
        record(Path(args.record), command, lab, results, args.repeat)
        print(f"wrote {args.record}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
