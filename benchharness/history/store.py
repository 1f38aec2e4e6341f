"""The history store: an SQLite file by default, a PostgreSQL database for a lab, both through SQLAlchemy.

One row per run and one row per (run, case, figure). A run is appended in one transaction, so a
reader never sees half a run and two lab machines appending at once lose nothing (SQLite waits for
the other writer's lock; PostgreSQL serialises the inserts itself). A run appended twice is kept once.

A lab's store holds a year of nights of fifty machines (millions of figure rows), and every reader
asks for a few series of one machine: `history show` one, a session's judge every figure of one case,
a report every trend of a run, the nightly digest (history/recent.py) every series of each machine's
last runs. Each of those is one or two queries on an index (benchmarks/results/history_queries.md),
because on PostgreSQL a query costs a connection and a cold backend first, and a query per figure made
a lab's reads take minutes.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from benchharness.errors import ConfigError, StoreError
from benchharness.gates import find_gate
from benchharness.readings import metric_spec
from benchharness.results import RunResult

if TYPE_CHECKING:
    import sqlalchemy as sa

DEFAULT_FILE = "history.sqlite"
SQLITE_MAGIC = b"SQLite format 3\x00"  # the first 16 bytes of every SQLite database file


@dataclass(frozen=True)
class Point:
    """One run's value of one figure."""

    started: str
    value: float
    git_commit: str | None


def resolve_url(option: str | None, results_dir: Path) -> str | None:
    """`--history` as a database URL: unset -> an SQLite file beside the results; `off` -> no history."""
    if option is None:
        return f"sqlite:///{(results_dir / DEFAULT_FILE).resolve()}"
    if option.lower() in ("off", "none", "no"):
        return None
    if option.startswith(("sqlite://", "postgresql://", "postgresql+psycopg://", "postgres://")):
        check_sqlite_file(option, f"--history {option!r}")
        return option
    if "://" in option:
        raise ConfigError(
            f"--history {option!r}: unsupported database URL scheme; use sqlite:///PATH, postgresql://USER@HOST/DB, a file path, or off"
        )
    url = f"sqlite:///{Path(option).resolve()}"
    check_sqlite_file(url, f"--history {option!r}")
    return url


def sqlite_file(url: str) -> Path | None:
    """The file behind an `sqlite:///PATH` URL (None for other databases and for an in-memory one)."""
    if not url.startswith("sqlite:///"):
        return None
    path = url[len("sqlite:///") :].split("?")[0]
    return Path(path) if path and path != ":memory:" else None


def check_sqlite_file(url: str, name: str) -> None:
    """Refuse, before the run, a history that names an existing file or folder that is no SQLite database.

    SQLite only finds out when it first reads the file, at the end of the run, and says "file is not a
    database"; a results JSON or a report given to --history by mistake is better named at start-up.
    """
    path = sqlite_file(url)
    if path is None or not path.exists():
        return
    if path.is_dir():
        raise ConfigError(f"{name} is a folder; name a file in it (e.g. {path / DEFAULT_FILE}), or off")
    try:
        with path.open("rb") as f:
            head = f.read(len(SQLITE_MAGIC))
    except OSError as e:
        raise ConfigError(
            f"{name}: cannot read {path} ({e.strerror}); make it readable, or name another file"
        ) from None
    if head and head != SQLITE_MAGIC:
        raise ConfigError(
            f"{name}: {path} is not an SQLite database (it starts with {head[:8]!r}); "
            f"name a history file benchharness wrote, a new file, or off"
        )


def _engine_url(url: str) -> str:
    """PostgreSQL through psycopg 3 (SQLAlchemy's bare `postgresql://` means psycopg2)."""
    for prefix in ("postgresql://", "postgres://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix) :]
    return url


def display(url: str) -> str:
    """The URL as shown to people and in messages: without its password."""
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:
        return url.split("@")[-1]


def run_uid(run: RunResult) -> str:
    """What identifies a run across files: its machine, start time and commit."""
    return f"{run.machine_id}|{run.started}|{run.git_commit or ''}"


def figures(run: RunResult) -> list[dict[str, Any]]:
    """The rows a run contributes: every tracked reading and every judged gate ratio of every case."""
    rows = []
    for c in run.cases:
        if c.measurement is None:
            continue
        base = {"case_key": c.key, "suite": c.case.suite, "outcome": c.outcome}
        for name, reading in sorted(c.measurement.readings.items()):
            spec = metric_spec(name)
            if reading.value is None or spec is None or not spec.tracked:
                continue
            rows.append(
                {
                    **base,
                    "figure": name,
                    "value": reading.value,
                    # The column has been NOT NULL since the first store; nothing reads it back. Where no
                    # spread was measured it holds 0.0 until the store's schema can migrate to null.
                    "stdev": reading.stdev if reading.stdev is not None else 0.0,
                    "n": reading.n,
                    "unit": reading.unit,
                    "status": None,
                }
            )
        for v in c.gate_verdicts():
            if v.estimate is not None:
                rows.append(
                    {
                        **base,
                        "figure": f"gate:{v.name}",
                        "value": v.estimate,
                        "stdev": 0.0,
                        "n": v.n or 0,
                        "unit": gate.unit if (gate := find_gate(v.name)) else "fraction",
                        "status": v.status,
                    }
                )
    return rows


class HistoryStore:
    """Append runs; read a figure's series for one machine and case."""

    def __init__(self, url: str) -> None:
        import sqlalchemy as sa

        self.url = url
        self.file = sqlite_file(url)
        connect_args = {"timeout": 120} if url.startswith("sqlite") else {}
        if self.file is not None:
            self._make_folder(self.file.parent)
        try:
            # No pool: a run or a command opens a connection per transaction and closes it, so
            # nothing is left open between nightly runs (or in a test's warnings).
            self.engine = sa.create_engine(_engine_url(url), connect_args=connect_args, poolclass=sa.pool.NullPool)
        except Exception as e:  # a malformed URL or a missing driver
            raise ConfigError(f"--history {display(url)}: cannot use this database ({e}); check the URL") from None
        self.meta = sa.MetaData()
        self.runs = sa.Table(
            "bench_runs",
            self.meta,
            sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
            sa.Column("uid", sa.String(400), nullable=False, unique=True),
            sa.Column("machine_id", sa.String(200), nullable=False, index=True),
            sa.Column("started", sa.String(40), nullable=False),
            sa.Column("git_commit", sa.String(64)),
            sa.Column("machine", sa.Text, nullable=False),
            sa.Column("packages", sa.Text, nullable=False),
            # A machine's latest runs, newest first, without reading its year (series_table's first step).
            sa.Index("ix_bench_runs_machine_started", "machine_id", "started", "id"),
        )
        self.figures = sa.Table(
            "bench_figures",
            self.meta,
            sa.Column("run_id", sa.Integer, sa.ForeignKey("bench_runs.id"), nullable=False, index=True),
            sa.Column("machine_id", sa.String(200), nullable=False),
            sa.Column("suite", sa.String(200), nullable=False),
            sa.Column("case_key", sa.String(400), nullable=False),
            sa.Column("figure", sa.String(200), nullable=False),
            sa.Column("value", sa.Float, nullable=False),
            sa.Column("stdev", sa.Float, nullable=False),
            sa.Column("n", sa.Integer, nullable=False),
            sa.Column("unit", sa.String(40), nullable=False),
            sa.Column("status", sa.String(20)),
            sa.Column("outcome", sa.String(40), nullable=False),
            # A series' rows, and which run each is in: a read of many series over a machine's last
            # runs seeks each (series, run) on the index alone. It supersedes (machine, case, figure),
            # which stores made before it keep (an index is dropped by no open).
            sa.Index("ix_bench_figures_series_run", "machine_id", "case_key", "figure", "run_id"),
        )
        try:
            self.meta.create_all(self.engine, checkfirst=True)
        except sa.exc.IntegrityError:
            pass  # another writer created the tables at the same moment
        except sa.exc.SQLAlchemyError as e:
            raise StoreError(f"history {display(url)} cannot be opened ({self._cause(e)}); {self._fix(e)}") from None
        self.missing_indexes = self._add_missing_indexes()

    def _add_missing_indexes(self) -> tuple[str, ...]:
        """The schema migration of an older store: every index declared above that it lacks, made now.

        `create_all` makes missing tables only, so a store created by an earlier version keeps its
        rows and would never get an index added since; each read would then scan the series' whole
        year. Creating an index only adds it (nothing stored changes); on a large store the first open
        takes as long as the index build, once. Two processes opening the same old store at once may
        both try: the one that loses finds the index there and goes on. A reader without the right to
        create one (a read-only file or database user) still reads, more slowly: the indexes it could
        not add are returned (kept as `missing_indexes`) for the caller to name, not an error.
        """
        import sqlalchemy as sa

        def present() -> dict[str, set[str]]:
            with self.engine.connect() as conn:
                inspector = sa.inspect(conn)
                return {
                    t.name: {str(i["name"]) for i in inspector.get_indexes(t.name)} for t in self.meta.sorted_tables
                }

        try:
            there = present()
        except sa.exc.SQLAlchemyError as e:
            raise StoreError(
                f"history {display(self.url)} cannot be opened ({self._cause(e)}); {self._fix(e)}"
            ) from None
        failed = []
        for table in self.meta.sorted_tables:
            for index in sorted(table.indexes, key=lambda i: str(i.name)):
                if index.name in there[table.name]:
                    continue
                try:
                    with self.engine.begin() as conn:
                        index.create(conn, checkfirst=True)
                except sa.exc.SQLAlchemyError as e:
                    # a concurrent opener may have made it between our check and our create
                    # ("already exists" on SQLite, a duplicate pg_class row on PostgreSQL)
                    try:
                        made = index.name in present()[table.name]
                    except sa.exc.SQLAlchemyError:
                        made = False
                    if not made:
                        failed.append(f"{index.name} ({self._cause(e)})")
        return tuple(failed)

    def _make_folder(self, folder: Path) -> None:
        """The SQLite file's folder, made now: SQLite itself only says "unable to open database file"."""
        if folder.exists() and not folder.is_dir():
            raise StoreError(
                f"history {display(self.url)} cannot be opened: {folder} is a file, not a folder; "
                "move it away, name another file with --history, or --history off"
            )
        try:
            folder.mkdir(parents=True, exist_ok=True)
        except OSError as e:
            raise StoreError(
                f"history {display(self.url)} cannot be opened: cannot create the folder {folder} ({e.strerror}); "
                "make it writable, name another file with --history, or --history off"
            ) from None

    @staticmethod
    def _cause(e: Exception) -> str:
        """The driver's own words, on one line (SQLAlchemy appends the SQL and a link on later lines)."""
        orig = getattr(e, "orig", None) or e
        return f"{type(orig).__name__}: {(str(orig).splitlines() or [''])[0]}"

    def _fix(self, e: Exception) -> str:
        """What to do, for the database at hand: an SQLite file has no server to check."""
        if self.file is None:
            return "check the URL and that the server is running"
        if "not a database" in str(e) or "malformed" in str(e):
            return f"{self.file} is not an SQLite database; name a history file benchharness wrote, a new file, or off"
        return f"check that {self.file} and its folder are writable and the disk is not full"

    def append(self, run: RunResult) -> bool:
        """Add `run` in one transaction; False if it was already there (nothing is written twice)."""
        import sqlalchemy as sa

        uid = run_uid(run)
        row = {
            "uid": uid,
            "machine_id": run.machine_id,
            "started": run.started,
            "git_commit": run.git_commit,
            "machine": json.dumps(run.machine, sort_keys=True),
            "packages": json.dumps(run.packages, sort_keys=True),
        }
        try:
            with self.engine.begin() as conn:
                if conn.execute(sa.select(self.runs.c.id).where(self.runs.c.uid == uid)).first() is not None:
                    return False
                inserted = conn.execute(sa.insert(self.runs).values(**row)).inserted_primary_key
                assert inserted is not None
                run_id = inserted[0]
                rows = [{**f, "run_id": run_id, "machine_id": run.machine_id} for f in figures(run)]
                if rows:
                    conn.execute(sa.insert(self.figures), rows)
        except sa.exc.IntegrityError:
            return False  # the same run, appended by a concurrent writer first
        except sa.exc.SQLAlchemyError as e:
            raise StoreError(
                f"history {display(self.url)}: run not appended ({self._cause(e)}); nothing was written; {self._fix(e)}"
            ) from None
        return True

    def series(self, machine_id: str, case_key: str, figure: str, last: int = 30) -> list[Point]:
        """The figure's value in the last `last` runs of this machine, oldest first."""
        import sqlalchemy as sa

        query = (
            sa.select(self.runs.c.started, self.figures.c.value, self.runs.c.git_commit)
            .join(self.runs, self.runs.c.id == self.figures.c.run_id)
            .where(
                self.figures.c.machine_id == machine_id,
                self.figures.c.case_key == case_key,
                self.figures.c.figure == figure,
            )
            .order_by(self.runs.c.started.desc(), self.runs.c.id.desc())
            .limit(last)
        )
        return [Point(r.started, float(r.value), r.git_commit) for r in reversed(self._read(query))]

    def series_many(
        self, machine_id: str, case_key: str, names: Sequence[str], last: int = 30
    ) -> dict[str, list[Point]]:
        """Each figure's `series` of one case on one machine, on one connection (the session's judge asks all at once).

        Equal to calling `series` per name; a figure with no stored value maps to an empty list. See
        `series_table` for the queries (one, or two when a series reaches back past the last runs).
        """
        table = self.series_table(machine_id, [case_key], names, last)
        return {name: table[(case_key, name)] for name in names}

    def series_table(
        self, machine_id: str, case_keys: Sequence[str], names: Sequence[str], last: int = 30
    ) -> dict[tuple[str, str], list[Point]]:
        """`series` of every (case, figure) pair of the given cases and names on one machine, on one connection.

        What a report's trend figures need for all the cases of a run. Each series keeps its own last
        `last` points, as `series` does. The rows of the machine's last `last` runs are read first, by
        index, so a year of history costs no more than a month; only a series with fewer points there (a
        case not run every night, a figure new or gone) is read further back, in a second query. Every
        pair asked for is a key; one with no stored value maps to an empty list.
        """
        import sqlalchemy as sa

        out: dict[tuple[str, str], list[Point]] = {(c, n): [] for c in case_keys for n in names}
        if not out:
            return out
        f, r = self.figures, self.runs
        asked = (
            f.c.machine_id == machine_id,
            f.c.case_key.in_(sorted(set(case_keys))),
            f.c.figure.in_(sorted(set(names))),
        )
        columns = (f.c.case_key, f.c.figure, f.c.value, r.c.started, r.c.id, r.c.git_commit)
        latest = (
            sa.select(r.c.id)
            .where(r.c.machine_id == machine_id)
            .order_by(r.c.started.desc(), r.c.id.desc())
            .limit(last)
        )
        with self._connection() as conn:
            window = [row.id for row in conn.execute(latest)]
            recent = (
                sa.select(*columns)
                .join(r, r.c.id == f.c.run_id)
                .where(*asked, f.c.run_id.in_(window))
                .order_by(f.c.case_key, f.c.figure, r.c.started, r.c.id)
            )
            for row in conn.execute(recent):
                out[(row.case_key, row.figure)].append(Point(row.started, float(row.value), row.git_commit))
            short = [pair for pair, points in out.items() if len(points) < last]
            if len(window) < last or not short:
                return out  # the machine has no older runs, or every series is full
            by_figure: dict[str, list[str]] = {}
            for case, name in short:
                by_figure.setdefault(name, []).append(case)
            rank = (
                sa.func.row_number()
                .over(partition_by=(f.c.case_key, f.c.figure), order_by=(r.c.started.desc(), r.c.id.desc()))
                .label("rank")
            )
            ranked = (
                sa.select(*columns, rank)
                .join(r, r.c.id == f.c.run_id)
                .where(  # index seeks per figure's short cases (a row-value IN list makes SQLite scan the machine)
                    sa.or_(
                        *(
                            sa.and_(f.c.machine_id == machine_id, f.c.figure == name, f.c.case_key.in_(cases))
                            for name, cases in by_figure.items()
                        )
                    )
                )
                .subquery()
            )
            older = (
                sa.select(ranked)
                .where(ranked.c.rank <= last)
                .order_by(ranked.c.case_key, ranked.c.figure, ranked.c.started, ranked.c.id)
            )
            again: dict[tuple[str, str], list[Point]] = {pair: [] for pair in short}
            for row in conn.execute(older):
                again[(row.case_key, row.figure)].append(Point(row.started, float(row.value), row.git_commit))
        return {**out, **again}

    @contextmanager
    def _connection(self) -> Iterator[sa.Connection]:
        """One connection for the queries of one read; a failure is the store's one-line error."""
        import sqlalchemy as sa

        try:
            with self.engine.connect() as conn:
                yield conn
        except sa.exc.SQLAlchemyError as e:
            raise StoreError(f"history {display(self.url)} cannot be read ({self._cause(e)}); {self._fix(e)}") from None

    def _read(self, query: sa.Select[Any]) -> list[Any]:
        """The rows of a read of one query."""
        with self._connection() as conn:
            return list(conn.execute(query).all())

    def names(self, machine_id: str | None = None, case_key: str | None = None) -> list[str]:
        """What a series can be asked for, sorted: the machines; a machine's case keys; a machine's case's figures.

        For `history show`'s one-line answer to a name that has no series (a case key without its `suite::`
        prefix is the usual slip). Reads the figure table's (machine, case, figure) index.
        """
        import sqlalchemy as sa

        if machine_id is None:
            query = sa.select(self.runs.c.machine_id).distinct()
        elif case_key is None:
            query = sa.select(self.figures.c.case_key).where(self.figures.c.machine_id == machine_id).distinct()
        else:
            query = (
                sa.select(self.figures.c.figure)
                .where(self.figures.c.machine_id == machine_id, self.figures.c.case_key == case_key)
                .distinct()
            )
        return sorted(str(row[0]) for row in self._read(query))

    def run_count(self, machine_id: str | None = None) -> int:
        import sqlalchemy as sa

        query = sa.select(sa.func.count()).select_from(self.runs)
        if machine_id is not None:
            query = query.where(self.runs.c.machine_id == machine_id)
        return int(self._read(query)[0][0])

    def close(self) -> None:
        self.engine.dispose()
