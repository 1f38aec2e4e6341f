"""Stored files survive arbitrary content and concurrent writers."""

import contextlib
import json
import multiprocessing
import os
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from benchharness import baselines
from benchharness.errors import StoreError
from benchharness.results import load_results
from benchharness.storage import write_text_atomic

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(max_size=10),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=20,
)


@settings(max_examples=150, deadline=None)
@given(document=json_values)
def test_loaders_give_store_errors_never_tracebacks(tmp_path_factory, document):
    path = tmp_path_factory.mktemp("store") / "file.json"
    path.write_text(json.dumps(document))
    for loader in (baselines.load, load_results):
        try:
            loader(path)
        except StoreError as e:
            assert str(path) in str(e)


@settings(max_examples=50, deadline=None)
@given(raw=st.binary(max_size=64))
def test_arbitrary_bytes_are_a_store_error(tmp_path_factory, raw):
    path = tmp_path_factory.mktemp("store") / "file.json"
    path.write_bytes(raw)
    with contextlib.suppress(StoreError):  # any other exception fails the test
        baselines.load(path)


def _writer(directory: str, worker: int) -> None:
    machine = {"id": "box", "cpu": "c", "logical_cores": 2, "memory_gib": 1, "system": "L", "arch": "x"}
    for i in range(10):
        baselines.save(
            Path(directory), machine, {f"case-{worker}-{i}": {"metrics": {}, "settings": {}, "recorded": {}}}
        )


def test_concurrent_writers_lose_nothing(tmp_path):
    context = multiprocessing.get_context("spawn")
    workers = [context.Process(target=_writer, args=(str(tmp_path), w)) for w in range(4)]
    for p in workers:
        p.start()
    for p in workers:
        p.join(60)
        assert p.exitcode == 0
    data = baselines.load(tmp_path / "box.json")
    assert len(data["cases"]) == 40


def test_stored_files_respect_the_umask(tmp_path):
    old = os.umask(0o022)
    try:
        write_text_atomic(tmp_path / "a.json", "{}")
        os.umask(0o077)
        write_text_atomic(tmp_path / "b.json", "{}")
    finally:
        os.umask(old)
    assert (tmp_path / "a.json").stat().st_mode & 0o777 == 0o644
    assert (tmp_path / "b.json").stat().st_mode & 0o777 == 0o600
