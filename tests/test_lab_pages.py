"""`benchharness merge` from outside: a lab report as a folder of pages, on synthetic machines made from a real run.

The machines are synthetic_lab.py's (one real results file of the main suite, each figure moved by its
measured noise), cut to the digits suite so that drawing a machine's page takes a second, not three.
"""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import pytest
from browser import CHROMIUM, chromium

from benchharness.results import RunResult, load_runs
from conftest import run_cli

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "benchmarks"))

import synthetic_lab  # noqa: E402

SUITE = "digits-classifier"
# The first page grows with the machines (the lab table, the machines' list, their recommendations), never
# with what each machine's page carries: at most this much per machine of the digits suite.
FIRST_PAGE_BYTES_PER_MACHINE = 12_000


def lab(root: Path, machines: int) -> list[Path]:
    """`machines` machines' last nights as root/lab/<machine>/latest.json, the nightly workflow's layout."""
    template = synthetic_lab.load_template()
    template = {**template, "cases": [c for c in template["cases"] if c["suite"] == SUITE]}
    plan = synthetic_lab.plan(template, json.loads(synthetic_lab.NOISE.read_text()), machines, 12, 3)
    maker = synthetic_lab.NightMaker(template, plan)
    paths = []
    for m in plan.machines:
        document = maker.document(m, m.last_night)
        if m.machine_id == "lab-01":  # one crash, so the first page has a failure to show
            case = next(c for c in document["cases"] if c["outcome"] == "passed")
            case.update(outcome="error", message="child crashed: SIGSEGV in the runtime\nlast line of its output")
        path = root / "lab" / m.machine_id / "latest.json"
        path.parent.mkdir(parents=True)
        path.write_text(json.dumps(document))
        paths.append(path)
    return paths


def merge(root: Path, paths: list[Path], *args: str) -> str:
    done = run_cli(root, "merge", *map(str, paths), "--out", "lab.html", *args)
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


@pytest.fixture(scope="module")
def merged(tmp_path_factory):
    root = tmp_path_factory.mktemp("lab")
    paths = lab(root, 6)
    return root, paths, merge(root, paths)


def test_the_first_page_links_every_machine_page_and_every_link_resolves(merged):
    root, _, said = merged
    page = (root / "lab.html").read_text()
    links = dict(re.findall(r'<a class="machine-page" href="([^"]+)">([^<]+)</a>', page))
    assert sorted(links.values()) == [f"lab-{i:02d}" for i in range(6)]
    for href in re.findall(r'href="([^"]+)"', page):  # every link of the page opens a file beside it
        assert (root / href).is_file(), href
    for href, machine in links.items():  # each machine's page is its full report, its run embedded
        (run,) = load_runs(root / href)
        assert run.machine_id == machine
        assert 'class="metrics"' in (root / href).read_text()
    assert "6 page(s) drawn here, 0 the machines' own reports" in said


def test_the_first_page_says_what_failed_where_and_what_to_ship(merged):
    root, _, _ = merged
    page = (root / "lab.html").read_text()
    failed = page[page.index('<section id="failed">') : page.index('<section id="changes">')]
    assert "child crashed: SIGSEGV in the runtime" in failed and "1: lab-01" in failed
    assert "last line of its output" not in failed  # the rest of the cause is on the machine's page
    assert page.count('class="recommendation"') == 6  # one per machine, model and device: digits on the CPU
    assert re.search(r"<b>[^<]+</b> on \d of 6", page)  # what to ship, counted over the class


def test_the_first_page_stays_small_and_carries_no_machine_detail(merged):
    root, _, _ = merged
    first = (root / "lab.html").stat().st_size
    pages = sorted((root / "lab_files" / "machines").glob("*.html"))
    assert len(pages) == 6
    assert first < 6 * FIRST_PAGE_BYTES_PER_MACHINE, first
    page = (root / "lab.html").read_text()
    assert "<svg" not in page and 'id="benchharness-results"' not in page  # figures and results live elsewhere
    assert "default-src 'none'" in page and "<script src" not in page and "<link" not in page


@pytest.mark.skipif(CHROMIUM is None, reason="headless Chromium not installed: apt-get install chromium")
def test_the_first_page_and_a_machine_page_open_from_disk_and_fetch_nothing(merged, tmp_path):
    root, _, _ = merged
    for page, marker in (
        (root / "lab.html", 'class="machine-page"'),
        (root / "lab_files/machines/lab-03.html", "<svg"),
    ):
        dom, urls = chromium(page.as_uri(), tmp_path, "--dump-dom")
        assert marker in dom, f"{marker!r} missing from the rendered {page.name}"
        assert [u for u in urls if not u.startswith("file://")] == [], f"{page.name} fetched {urls}"


def test_the_merged_results_load_back_as_the_runs_that_went_in(merged):
    root, paths, _ = merged
    document = json.loads((root / "lab_files" / "results.json").read_text())
    assert document["document"] == "lab-results"
    runs = [RunResult.from_dict(d, "results.json") for d in document["runs"]]
    inputs = {json.loads(p.read_text())["run"]["machine"]["id"]: json.loads(p.read_text()) for p in paths}
    assert {r.machine_id: r.data for r in runs} == inputs
    assert [r.machine_id for r in load_runs(root / "lab.html")] == sorted(inputs)  # the page reads through it
    assert [r.machine_id for r in load_runs(root / "lab_files" / "results.json")] == sorted(inputs)
    same = run_cli(root, "compare", "lab.html", "lab_files/results.json")  # compare takes either
    assert same.returncode == 0 and "no change past the noise" in same.stdout, same.stdout + same.stderr


def test_a_machines_own_report_beside_its_results_is_its_page_and_a_stale_one_is_not(tmp_path):
    paths = lab(tmp_path, 2)
    own = run_cli(tmp_path, "report", str(paths[0]), "--out", str(paths[0].with_name("latest.html")))
    assert own.returncode == 0, own.stderr
    stale = run_cli(tmp_path, "report", str(paths[0]), "--out", str(paths[1].with_name("latest.html")))
    assert stale.returncode == 0, stale.stderr  # lab-00's report beside lab-01's results: not lab-01's page
    said = merge(tmp_path, paths)
    assert "1 page(s) drawn here, 1 the machines' own reports" in said
    machines = tmp_path / "lab_files" / "machines"
    assert (machines / "lab-00.html").read_bytes() == paths[0].with_name("latest.html").read_bytes()
    assert [r.machine_id for r in load_runs(machines / "lab-01.html")] == ["lab-01"]


def test_a_page_moved_without_its_folder_and_a_foreign_folder_are_one_line_errors(tmp_path):
    paths = lab(tmp_path, 1)
    (tmp_path / "lab_files").mkdir()
    (tmp_path / "lab_files" / "notes.txt").write_text("someone's own files")
    done = run_cli(tmp_path, "merge", str(paths[0]), "--out", "lab.html")
    assert done.returncode == 2 and done.stderr.count("\n") == 1, done.stderr
    assert "lab_files exists and is not a lab report's folder" in done.stderr
    assert (tmp_path / "lab_files" / "notes.txt").exists()  # nothing of theirs was removed

    (tmp_path / "lab_files" / "notes.txt").unlink()
    (tmp_path / "lab_files").rmdir()
    merge(tmp_path, paths)
    moved = tmp_path / "elsewhere"
    moved.mkdir()
    (tmp_path / "lab.html").rename(moved / "lab.html")
    done = run_cli(tmp_path, "compare", "elsewhere/lab.html", str(paths[0]))
    assert done.returncode == 2 and done.stderr.count("\n") == 1, done.stderr
    assert "copy the page with its lab_files/ folder" in done.stderr


def lab_with_history(root: Path, machines: int, nights: int) -> tuple[list[Path], str]:
    """`lab`'s layout, every machine's nights (planted steps included) appended to root/history.sqlite first."""
    from benchharness.history.store import HistoryStore

    template = synthetic_lab.load_template()
    template = {**template, "cases": [c for c in template["cases"] if c["suite"] == SUITE]}
    plan = synthetic_lab.plan(template, json.loads(synthetic_lab.NOISE.read_text()), machines, nights, 3)
    maker = synthetic_lab.NightMaker(template, plan)
    url = f"sqlite:///{root / 'history.sqlite'}"
    store = HistoryStore(url)
    paths = []
    try:
        for m in plan.machines:
            for night in range(m.first_night, m.last_night + 1):
                store.append(RunResult.from_dict(maker.document(m, night), f"{m.machine_id}-{night}.json"))
            path = root / "lab" / m.machine_id / "latest.json"
            path.parent.mkdir(parents=True)
            path.write_text(json.dumps(maker.document(m, m.last_night)))
            paths.append(path)
    finally:
        store.close()
    return paths, url


def change_point_lines(page: Path) -> list[str]:
    text = page.read_text()
    section = text[text.index("Change points over the lab's history") :]
    return re.findall(r"<li>([^<]+)</li>", section[: section.index("</ul>")])


@pytest.mark.slow  # over ~5 s (the fast lane's line)
def test_merge_with_history_reuses_each_machines_own_report_and_lists_the_same_change_points(tmp_path):
    paths, url = lab_with_history(tmp_path, 3, 14)
    drawn = merge(tmp_path, paths, "--history", url)  # no own reports: merge draws each page and its trends
    assert "3 page(s) drawn here, 0 the machines' own reports" in drawn
    from_figures = change_point_lines(tmp_path / "lab.html")
    assert any("level changed" in line for line in from_figures), from_figures  # a planted step was found
    for path in paths:  # each machine's own report, with its trends, as its session writes it
        own = run_cli(tmp_path, "report", str(path), "--history", url, "--out", str(path.with_name("latest.html")))
        assert own.returncode == 0, own.stderr
    reused = merge(tmp_path, paths, "--history", url)
    assert "0 page(s) drawn here, 3 the machines' own reports" in reused
    for path in paths:
        page = tmp_path / "lab_files" / "machines" / f"{path.parent.name}.html"
        assert page.read_bytes() == path.with_name("latest.html").read_bytes()
    assert change_point_lines(tmp_path / "lab.html") == from_figures  # read from the store, no figure drawn


def test_a_lab_file_of_version_1_marked_with_kind_still_loads(tmp_path):
    """Lab schema 1 marked the file `"kind": "lab-results"`; version 2 says `"document"` (kind: a model's, alone)."""
    from run_documents import case, run

    runs = [run([case("q4_0", 50.0)], machine) for machine in ("lab-a", "lab-b")]
    path = tmp_path / "results.json"
    path.write_text(json.dumps({"kind": "lab-results", "schema_version": 1, "runs": runs}))
    assert [r.machine_id for r in load_runs(path)] == ["lab-a", "lab-b"]
