"""The history store on SQLite and on a real PostgreSQL server, and change points in a series."""

import multiprocessing

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
