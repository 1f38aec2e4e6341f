"""The history store on SQLite and on a real PostgreSQL server, and change points in a series."""

import multiprocessing
import re

import numpy as np
import pytest
from postgres_server import bin_dir, running_server
from run_documents import case, run

from benchharness.errors import ConfigError, StoreError
from benchharness.history.changepoints import detect
from benchharness.history.store import HistoryStore, resolve_url
from benchharness.results import RunResult


def nightly(night: int, decode: float, machine: str = "lab-a") -> RunResult:
    data = run([case("q4_0", decode, seed=night)], machine, started=f"2026-11-{night + 1:02d}T02:00:00+00:00")
    return RunResult.from_dict(data, f"night-{night}.json")


def exercise(store: HistoryStore) -> None:
    for night in range(6):
        assert store.append(nightly(night, 150.0 if night < 3 else 120.0))
    assert not store.append(nightly(5, 120.0))  # the same run again is kept once
    store.append(nightly(0, 90.0, machine="lab-b"))
    series = store.series("lab-a", "llm::smollm2-135m-q4_0-llamacpp-cpu", "decode_tok_per_s")
    assert [p.started[:10] for p in series] == [f"2026-11-0{i}" for i in range(1, 7)]
    assert series[0].value == pytest.approx(150.0, rel=0.03) and series[-1].value == pytest.approx(120.0, rel=0.03)
    assert store.run_count("lab-a") == 6 and store.run_count() == 7
    assert len(store.series("lab-a", "llm::smollm2-135m-q4_0-llamacpp-cpu", "decode_tok_per_s", last=2)) == 2


def test_sqlite_history(tmp_path):
    exercise(HistoryStore(f"sqlite:///{tmp_path / 'history.sqlite'}"))


def _append_nights(url: str, machine: str) -> None:
    store = HistoryStore(url)
    for night in range(5):
        store.append(nightly(night, 100.0 + night, machine))


def race(url: str, machines: list[str]) -> list[int | None]:
    """Each machine appends its five nights from its own process, all at once; their exit codes."""
    context = multiprocessing.get_context("spawn")
    writers = [context.Process(target=_append_nights, args=(url, m)) for m in machines]
    for w in writers:
        w.start()
    for w in writers:
        w.join(120)
    return [w.exitcode for w in writers]


def test_concurrent_writers_lose_nothing_on_sqlite(tmp_path):
    url = f"sqlite:///{tmp_path / 'history.sqlite'}"
    HistoryStore(url)  # tables exist before the race, as after the first nightly run
    assert race(url, [f"lab-{i}" for i in range(4)]) == [0] * 4
    assert HistoryStore(url).run_count() == 20


def test_history_option_resolves_files_urls_and_off(tmp_path):
    assert resolve_url(None, tmp_path) == f"sqlite:///{tmp_path / 'history.sqlite'}"
    assert resolve_url("off", tmp_path) is None
    assert resolve_url("postgresql://bench@db/lab", tmp_path) == "postgresql://bench@db/lab"
    with pytest.raises(ConfigError, match="--history 'mysql://x': unsupported database URL scheme"):
        resolve_url("mysql://x", tmp_path)


PG_BIN = bin_dir()


@pytest.fixture(scope="module")
def postgresql_url():
    assert PG_BIN is not None
    with running_server(PG_BIN) as url:
        yield url


@pytest.mark.skipif(PG_BIN is None, reason="PostgreSQL server not installed: apt-get install postgresql")
@pytest.mark.e2e
def test_postgresql_history_with_concurrent_writers(postgresql_url):
    """A real server started by the test: the lab's store, three machines writing at once."""
    exercise(HistoryStore(postgresql_url))
    assert race(postgresql_url, [f"pg-lab-{i}" for i in range(3)]) == [0] * 3
    assert HistoryStore(postgresql_url).run_count() == 7 + 15


def test_an_unreachable_database_is_a_one_line_error():
    with pytest.raises(
        StoreError, match=r"history postgresql://bench:\*\*\*@127.0.0.1:9/lab cannot be opened .*refused.*check the URL"
    ):
        HistoryStore("postgresql://bench:secret@127.0.0.1:9/lab")


def test_a_level_shift_is_a_change_point_and_noise_is_not():
    rng = np.random.default_rng(3)
    shifted = list(150 + rng.normal(0, 1.5, 12)) + list(138 + rng.normal(0, 1.5, 10))  # -8%, below no threshold
    found = detect(shifted)
    assert [cp.index for cp in found.points] == [12]
    assert found.points[0].change == pytest.approx(-0.08, abs=0.02)
    assert detect(list(150 + rng.normal(0, 1.5, 22))).points == ()


# ---- issue 28 part 5: the indexes a lab's reads need, and reads batched into one query per reader ----

CASES = ("q4_0", "q8_0", "f16")
NAMES = ["decode_tok_per_s", "top1_accuracy", "peak_rss_bytes", "gate:speedup", "gate:nope"]


def lab_night(night: int, machine: str, commit: str = "0123456789abcdef") -> RunResult:
    """One night of a machine: f16 only on even nights, the speed gate only from night 4 (sparse series)."""
    cases = []
    for i, quant in enumerate(CASES):
        if quant == "f16" and night % 2:
            continue
        gates = {"speedup": ("pass", 2.0 + night / 10, 1.9, 2.2)} if night >= 4 else None
        cases.append(case(quant, 100.0 + 10 * i + night, gates=gates, seed=night))
    data = run(cases, machine, started=f"2026-11-{night + 1:02d}T02:00:00+00:00")
    data["run"]["git_commit"] = commit
    return RunResult.from_dict(data, f"{machine}-{night}.json")


def fill_lab(store: HistoryStore) -> None:
    """Two machines; nights appended out of order (started, not insertion, orders a series); one night run twice."""
    for night in [*range(3, 12), 0, 2, 1]:
        assert store.append(lab_night(night, "lab-a"))
    assert store.append(lab_night(1, "lab-a", commit="fedcba9876543210"))  # the same start, another commit
    for night in range(5):
        assert store.append(lab_night(night, "lab-b"))


def check_batched_reads_equal_series(store: HistoryStore) -> None:
    keys = [f"llm::smollm2-135m-{q}-llamacpp-cpu" for q in CASES]
    for machine in ("lab-a", "lab-b", "lab-none"):
        for last in (1, 3, 7, 30):
            one = {(k, n): store.series(machine, k, n, last) for k in keys for n in NAMES}
            assert store.series_table(machine, keys, NAMES, last) == one
            for k in keys:
                assert store.series_many(machine, k, NAMES, last) == {n: one[(k, n)] for n in NAMES}
    assert len(store.series("lab-a", keys[0], "decode_tok_per_s")) == 13
    assert store.series_table("lab-a", keys, [], 30) == {} and store.series_many("lab-a", keys[0], [], 30) == {}


def check_recent(store: HistoryStore) -> None:
    """The digest's read (history/recent.py): each machine's series over its last runs, as `series` gives them there."""
    from benchharness.history.recent import read_recent

    recent = {(s.machine, s.case_key, s.figure): s for s in read_recent(store, 5).series}
    starts = {f"2026-11-{n + 1:02d}T02:00:00+00:00" for n in range(7, 12)}  # lab-a's nights 7-11: f16 on 8, 10
    for (machine, key, name), found in recent.items():
        points = [p for p in store.series(machine, key, name, 100) if machine == "lab-b" or p.started in starts]
        assert (found.started, found.values) == (tuple(p.started for p in points), tuple(p.value for p in points))
    f16 = recent[("lab-a", "llm::smollm2-135m-f16-llamacpp-cpu", "decode_tok_per_s")]
    assert len(f16.values) == 2 and len({k[:2] for k in recent}) == 2 * len(CASES)


def declared_indexes(store: HistoryStore) -> set[str]:
    return {str(i.name) for t in store.meta.sorted_tables for i in t.indexes}


def present_indexes(url: str) -> set[str]:
    import sqlalchemy as sa

    engine = sa.create_engine(url.replace("postgresql://", "postgresql+psycopg://"), poolclass=sa.pool.NullPool)
    with engine.connect() as conn:
        inspector = sa.inspect(conn)
        found = {str(i["name"]) for t in ("bench_runs", "bench_figures") for i in inspector.get_indexes(t)}
    engine.dispose()
    return found


def make_old_store(url: str) -> list[list[float]]:
    """A store as an earlier version left it: its rows, none of the indexes declared since; its series."""
    import sqlalchemy as sa

    store = HistoryStore(url)
    fill_lab(store)
    keys = [f"llm::smollm2-135m-{q}-llamacpp-cpu" for q in CASES]
    before = [[p.value for p in store.series("lab-a", k, "decode_tok_per_s", 100)] for k in keys]
    with store.engine.begin() as conn:
        for name in sorted(declared_indexes(store)):
            conn.execute(sa.text(f"DROP INDEX {name}"))
    store.close()
    assert present_indexes(url).isdisjoint(declared_indexes(store))
    return before


def check_old_store_migrates(url: str, writers: list[str]) -> None:
    """Opened by several writers at once (each adds the indexes or finds them made): all indexes, every row kept."""
    before = make_old_store(url)
    assert race(url, writers) == [0] * len(writers)
    store = HistoryStore(url)
    assert declared_indexes(store) <= present_indexes(url) and store.missing_indexes == ()
    keys = [f"llm::smollm2-135m-{q}-llamacpp-cpu" for q in CASES]
    assert [[p.value for p in store.series("lab-a", k, "decode_tok_per_s", 100)] for k in keys] == before
    assert store.run_count() == 13 + 5 + 5 * len(writers)
    check_batched_reads_equal_series(store)


def test_batched_reads_equal_per_figure_reads_on_sqlite(tmp_path):
    store = HistoryStore(f"sqlite:///{tmp_path / 'history.sqlite'}")
    fill_lab(store)
    check_batched_reads_equal_series(store)
    check_recent(store)


def test_an_old_sqlite_store_gets_its_indexes_on_open_and_keeps_its_rows(tmp_path):
    check_old_store_migrates(f"sqlite:///{tmp_path / 'history.sqlite'}", ["lab-x", "lab-y"])


def fresh_database(server_url: str, name: str) -> str:
    """A new empty database on the test server, so each test's store starts empty."""
    import sqlalchemy as sa

    engine = sa.create_engine(server_url.replace("postgresql://", "postgresql+psycopg://"), poolclass=sa.pool.NullPool)
    with engine.connect() as conn:
        conn.execution_options(isolation_level="AUTOCOMMIT").execute(sa.text(f"CREATE DATABASE {name}"))
    engine.dispose()
    return server_url.rsplit("/", 1)[0] + "/" + name


@pytest.mark.skipif(PG_BIN is None, reason="PostgreSQL server not installed: apt-get install postgresql")
@pytest.mark.e2e
def test_batched_reads_equal_per_figure_reads_on_postgresql(postgresql_url):
    store = HistoryStore(fresh_database(postgresql_url, "batched"))
    fill_lab(store)
    check_batched_reads_equal_series(store)
    check_recent(store)


@pytest.mark.skipif(PG_BIN is None, reason="PostgreSQL server not installed: apt-get install postgresql")
@pytest.mark.e2e
def test_an_old_postgresql_store_gets_its_indexes_on_open_and_keeps_its_rows(postgresql_url):
    check_old_store_migrates(fresh_database(postgresql_url, "old_store"), ["pg-x", "pg-y", "pg-z"])


@pytest.mark.skipif(PG_BIN is None, reason="PostgreSQL server not installed: apt-get install postgresql")
@pytest.mark.e2e
def test_a_reader_who_may_not_add_an_index_still_reads_and_is_told(postgresql_url, capsys):
    """A dashboard's read-only user on an old store: `history show` works, and names what it could not add."""
    import sqlalchemy as sa

    from benchharness import cli

    url = fresh_database(postgresql_url, "read_only")
    make_old_store(url)
    owner = HistoryStore(url)  # the owner's open adds the indexes; drop one again for the reader to find missing
    with owner.engine.begin() as conn:
        conn.execute(sa.text("DROP INDEX ix_bench_runs_machine_started"))
        conn.execute(sa.text("CREATE ROLE reader LOGIN"))
        conn.execute(sa.text("GRANT SELECT ON ALL TABLES IN SCHEMA public TO reader"))
    reader_url = url.replace("postgres@", "reader@")
    reader = HistoryStore(reader_url)
    assert len(reader.missing_indexes) == 1
    assert reader.missing_indexes[0].startswith("ix_bench_runs_machine_started (InsufficientPrivilege: must be owner")
    key = "llm::smollm2-135m-q4_0-llamacpp-cpu"
    assert reader.series_many("lab-a", key, ["decode_tok_per_s"], 5) == {
        "decode_tok_per_s": owner.series("lab-a", key, "decode_tok_per_s", 5)
    }
    argv = [
        "history",
        "show",
        "--history",
        reader_url,
        "--machine",
        "lab-a",
        "--case",
        key,
        "--metric",
        "decode_tok_per_s",
    ]
    assert cli.main(argv) == 0
    out, err = capsys.readouterr()
    assert len(out.splitlines()) == 1 + 13  # the heading, then a line per run
    assert err.startswith("note: the history lacks the index(es) ix_bench_runs_machine_started (InsufficientPrivilege")
    assert "until a user who may write opens it once" in err
    assert cli.main(["history", "digest", "--history", reader_url]) == 0  # the digest reads too, and says so
    assert capsys.readouterr().err.startswith("note: the history lacks the index(es) ix_bench_runs_machine_started")


@pytest.mark.parametrize("last", ["0", "-1", "many"])
def test_history_show_refuses_a_last_that_is_no_count_of_runs(tmp_path, capsys, last):
    from benchharness import cli

    argv = ["history", "show", "--history", str(tmp_path / "h.sqlite"), "--machine", "lab-a", "--case", "llm::x"]
    with pytest.raises(SystemExit) as exit_:
        cli.main([*argv, "--metric", "decode_tok_per_s", "--last", last])
    assert exit_.value.code == 2
    assert (
        f"argument --last: {last!r} is not a count of runs; give 1 or more, e.g. --last 30" in capsys.readouterr().err
    )


def test_the_query_benchmark_runs_and_its_reads_use_the_indexes(tmp_path):
    """benchmarks/history_queries.py on a small lab (SQLite): every reader timed, each query planned on an index."""
    import os
    import subprocess
    import sys
    from pathlib import Path

    root = Path(__file__).resolve().parents[1]
    record = tmp_path / "history_queries.md"
    done = subprocess.run(
        [sys.executable, str(root / "benchmarks" / "history_queries.py"), "--machines", "3", "--nights", "12",
         "--repeat", "2", "--out", str(tmp_path), "--record", str(record)],
        capture_output=True, text=True, timeout=300, env={**os.environ, "PYTHONPATH": str(root)}, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    text = record.read_text()
    assert "## SQLite: 36 runs" in text and "indexes of issue 28 part 5" in text
    for read in ("history show of one series", "series_many |", "series_table per suite |", "read_recent |"):
        assert read in text
    plans = text[text.index("Plans:") :]
    assert "SEARCH bench_figures USING INDEX ix_bench_figures_series_run" in plans
    assert "SEARCH bench_runs USING COVERING INDEX ix_bench_runs_machine_started" in plans
    assert "SCAN bench_figures" not in plans  # no read walks the whole figure table


def test_history_show_of_a_name_with_no_series_says_which_name_and_the_nearest_ones(tmp_path, capsys):
    """A newcomer's finding: a case key without its suite prefix printed 'no history for ...' and exited 0."""
    from benchharness import cli

    path = tmp_path / "h.sqlite"
    store = HistoryStore(f"sqlite:///{path}")
    store.append(RunResult.from_dict(run([case("q4_0", 150.0)], "lab-a"), "r.json"))
    store.close()
    argv = ["history", "show", "--history", str(path), "--machine", "lab-a", "--metric", "decode_tok_per_s"]
    assert cli.main([*argv, "--case", "smollm2-135m-q4_0-llamacpp-cpu"]) == 2
    err = capsys.readouterr().err
    assert (
        "no history for case 'smollm2-135m-q4_0-llamacpp-cpu' on lab-a; nearest: llm::smollm2-135m-q4_0-llamacpp-cpu"
        in err
    )
    assert cli.main([*argv[:5], "lab-b", *argv[6:], "--case", "llm::smollm2-135m-q4_0-llamacpp-cpu"]) == 2
    assert "no history for machine 'lab-b'; nearest: lab-a (1 in the store)" in capsys.readouterr().err
    good = [*argv[:-2], "--metric", "decode_tok_pers", "--case", "llm::smollm2-135m-q4_0-llamacpp-cpu"]
    assert cli.main(good) == 2
    assert (
        "no history for metric 'decode_tok_pers' on lab-a for llm::smollm2-135m-q4_0-llamacpp-cpu; nearest: decode_tok_per_s"
        in capsys.readouterr().err
    )


def test_history_show_prints_each_value_with_its_unit_and_counts_runs(tmp_path):
    """A newcomer's finding: `history show` printed bare numbers, and said "nights" where it meant runs (a
    machine may run several times a night, or skip one)."""
    path = tmp_path / "h.sqlite"
    store = HistoryStore(f"sqlite:///{path}")
    for night in range(2):
        gates = {"speedup": ("pass", 2.61, 2.5, 2.7), "accuracy_retained": ("pass", 0.992, 0.98, 1.0)}
        data = run(
            [case("q4_0", 150.0, gates=gates, seed=night)], "lab-a", started=f"2026-11-0{night + 1}T02:00:00+00:00"
        )
        store.append(RunResult.from_dict(data, f"n{night}.json"))
    store.close()
    key = "llm::smollm2-135m-q4_0-llamacpp-cpu"

    # Imported here, not at the top: race()'s spawned writers import this module by name, and in a whole-suite
    # run `conftest` there is the repository root's (tests/test_code_quality.py checks the kind).
    from conftest import run_cli

    def show(metric: str) -> list[str]:
        done = run_cli(tmp_path, "history", "show", "--history", str(path), "--machine", "lab-a", "--case", key,
                       "--metric", metric)  # fmt: skip
        assert done.returncode == 0, done.stderr
        return done.stdout.splitlines()

    decode = show("decode_tok_per_s")
    assert decode[0] == f"decode_tok_per_s (decode throughput, tok/s) of {key} on lab-a: 2 run(s), oldest first"
    assert all(
        re.fullmatch(r"2026-11-0\dT02:00:00\+00:00  1[45]\d\.\d+ tok/s  0123456789", line) for line in decode[1:3]
    )
    assert (
        decode[3]
        == "change points: 2 run(s) in the history; change points need at least 6 (3 runs on each side of a change)"
    )
    assert "night" not in "\n".join(decode)
    assert show("peak_rss_bytes")[1].endswith(" 300 MiB  0123456789")
    assert show("top1_accuracy")[1].endswith(" 49%  0123456789")
    assert show("gate:speedup")[1].endswith(" 2.61x  0123456789")
    assert show("gate:accuracy_retained")[1].endswith(" 99.2%  0123456789")
