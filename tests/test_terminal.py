"""The terminal summary of a real run, read as a newcomer reads it: figures that keep their digits, columns named
for what they hold, and the report's recommended configuration beside the target lines that name it.

One digits run on ONNX Runtime (seconds) serves every test here; each asserts what pytest printed.
"""

from __future__ import annotations

import html
import re
from pathlib import Path

import pytest

from benchharness import kinds, units
from benchharness.report.terminal import ANSWER_COLUMNS, GPU_COLUMNS, verdict_columns
from conftest import CHECKOUT, digits_project, run_digits

pytest.importorskip("onnxruntime", reason="pip install 'benchharness[onnx]'")
pytest.importorskip("sklearn", reason="pip install 'benchharness[exporters]'")


@pytest.fixture(scope="module")
def digits_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, str]:
    root = digits_project(tmp_path_factory.mktemp("digits"))
    code, output = run_digits(root)
    assert code == 0, output
    return root, output


def _cells(line: str) -> list[str]:
    return re.split(r"\s{2,}", line.strip())


def figure_table(output: str) -> list[dict[str, str]]:
    """The rows of the first table pytest printed (the figures), by header."""
    lines = output.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("variant "))
    headers = _cells(lines[start])
    rows = []
    for line in lines[start + 2 :]:
        if not line.strip():
            break
        rows.append(dict(zip(headers, _cells(line), strict=True)))
    return rows


@pytest.mark.e2e  # digits_run: a real digits run on ONNX Runtime and OpenVINO (5 s)
def test_every_figure_in_the_table_keeps_three_significant_digits(digits_run):
    """A newcomer's finding: the digits MLP's batch-1 latency (about 10 us) read "0.01" in the "b1 ms" column."""
    rows = figure_table(digits_run[1])
    assert rows and "b1 ms" in rows[0], rows
    for row in rows:
        for header, cell in row.items():
            if header in ("variant", "bits/w") or cell in ("n/a", "-"):
                continue
            number = cell.split("±")[0].rstrip("%")
            digits = number.replace(".", "").lstrip("0")
            assert float(number) == 0 or len(digits) >= 3, f"{header} {cell!r}: fewer than 3 significant digits"


@pytest.mark.parametrize(
    ("value", "fmt", "shown"),
    [
        (0.0123, ".2f", "0.0123"),  # a 12 us latency in ms
        (152.66, ".1f", "152.7"),  # tok/s: the format's decimals stay where they hold digits
        (0.004, ".0%", "0.400%"),  # a 0.4% MBU is not 0%
        (0.9756, ".2%", "97.56%"),
        (0.31, ".0f", "0.310"),  # a 0.31 MiB model is not 0 MiB
        (0.00012, ".4f", "0.000120"),  # a KL divergence of 1.2e-4
        (0.0, ".2f", "0.00"),
        (1234.5, ",.0f", "1,234"),  # any other format is applied as it is
    ],
)
def test_a_column_format_is_a_floor_on_decimals_never_a_cap_on_digits(value, fmt, shown):
    assert units.fixed(value, fmt) == shown


def test_small_figures_with_a_unit_keep_their_digits():
    """The same fault in units.show (the report, compare, targets): bytes under 1 KiB and tiny shares."""
    assert units.show(300, "B") == "300 B"
    assert units.show(0.4 * 2**10, "B") == "410 B"
    assert units.show(1.5e-5, "fraction") == "0.00150%"
    assert units.show(0.0123, "ms") == "12.30 us"


@pytest.mark.e2e  # digits_run
def test_the_model_memory_column_is_named_for_what_it_holds_here_in_the_report_and_in_the_readme(digits_run):
    """`model MiB` read as the file's size; it is the model's own memory (timed-region peak RSS minus RSS before
    load), which the report calls "model memory"."""
    root, output = digits_run
    assert "model mem MiB" in figure_table(output)[0]
    assert "model MiB" not in output
    (report,) = (root / "reports").glob("report-*.html")
    assert re.search(r'<th title="model_memory_bytes">model memory', report.read_text())
    known = {c.header for kind in kinds.KINDS.values() for c in kind.columns}
    known |= {"variant", "bits/w"} | {h for h, _ in ANSWER_COLUMNS + GPU_COLUMNS} | {h for h, _ in verdict_columns()}
    readme = (CHECKOUT / "README.md").read_text()
    tables = [line for line in readme.splitlines() if line.startswith("variant  ")]
    assert tables
    for line in tables:
        assert set(_cells(line)) <= known, f"README table header names a column the terminal does not print: {line}"


def test_the_recommended_configuration_is_printed_in_the_reports_own_words(digits_run):
    """Target lines say "not the recommended ..."; a reader of the terminal alone never saw the recommendation."""
    root, output = digits_run
    lines = output.splitlines()
    start = lines.index("Recommended configuration:")
    printed = []
    for line in lines[start + 1 :]:
        if not line.startswith("  "):
            break
        printed.append(line.strip())
    (report,) = (root / "reports").glob("report-*.html")
    sentences = re.findall(r'<p class="recommendation"[^>]*>(.*?)</p>', report.read_text(), flags=re.DOTALL)
    assert printed == [html.unescape(s) for s in sentences]
    assert printed[0].startswith("digits-mlp on cpu (hardening-test-host): ship ")


def test_one_word_per_undecided_state_in_the_run_table_its_lines_and_the_report():
    """A newcomer's finding: one state read "not decided" (summary), "unknown", "INCONCL" and "unconfirmed"
    (run table). A gate's straddling interval reads "inconclusive", a between-run move the noise cannot place "not
    decided", in the table, the lines under it and the report page alike; the stored statuses stay as they are."""
    from run_documents import case, run

    from benchharness.report.html import _verdict_rows
    from benchharness.report.terminal import table
    from benchharness.results import RunResult

    data = case("q4_0", 150.0, gates={"speedup": ("inconclusive", 1.9, 1.7, 2.1)})
    data["verdicts"].append(
        {
            "check": "baseline",
            "name": "decode_tok_per_s",
            "status": "inconclusive",
            "message": "decode_tok_per_s not decided (outside CPU load this run 74%): -12.0%",
            "direction": "unknown",
            "reason": "outside CPU load this run 74%",
        }
    )
    result = RunResult.from_dict(run([data]), "r.json")
    lines = table(list(result.cases))
    row = [line for line in lines if line.startswith("q4_0 ")][-1]  # the verdict columns: last, stacked or not
    assert "1.90 inconclusive" in row and row.rstrip().endswith("not decided  passed"), row
    assert not any(word in line for line in lines for word in ("INCONCL", "unconfirmed"))
    assert any(line.startswith("  not decided  smollm2-135m-q4_0") for line in lines), lines
    assert any(line.startswith("  inconclusive smollm2-135m-q4_0") for line in lines), lines
    (_, _, cells), *_ = _verdict_rows(list(result.cases))
    assert [c.text for c in cells] == ["gate speedup: inconclusive", "baseline decode_tok_per_s: not decided"]
    assert [c.status for c in cells] == ["inconclusive", "inconclusive"]  # the css class is the stored value


def test_the_made_by_and_cost_lines_of_a_real_run_say_each_thing_once_with_its_digits(digits_run):
    """A newcomer's findings on the digits run: "by train-digits-mlp (train-digits-mlp)" and "0 s in timed regions"."""
    _, output = digits_run
    made = [line for line in output.splitlines() if ": by " in line]
    assert made, output[-3000:]
    for line in made:
        maker = line.split(": by ", 1)[1]
        assert not re.fullmatch(r"(\S+) \(\1\)", maker), line
    cost = next(line for line in output.splitlines() if line.startswith("cost: "))
    timed = re.search(r"; (\S+) s in timed regions", cost)
    assert timed is not None and float(timed.group(1).replace(",", "")) > 0, cost


def test_a_figure_from_one_round_shows_no_spread_and_one_from_several_does():
    """A single round has no spread to show: '±0%' would claim a perfectly quiet figure."""
    from child_facts import child_info

    from benchharness.matrix import Case
    from benchharness.readings import Measurement, Reading
    from benchharness.records import CaseRecord
    from benchharness.report.terminal import table

    def decode_cell(reading: Reading) -> str:
        case = Case("s", "m", "q4_0", "llamacpp", "cpu", reference="f32", format="gguf")
        measurement = Measurement(case.id, {"decode_tok_per_s": reading}, info=child_info(kind="causal-lm"))
        header, _, row = table([CaseRecord(case, measurement=measurement).result()])[1:4]
        return row[header.index("decode tok/s") :].split()[0]

    assert decode_cell(Reading("decode_tok_per_s", "tok/s", 80.0, stdev=None, n=1)) == "80.0"
    assert decode_cell(Reading("decode_tok_per_s", "tok/s", 80.0, stdev=0.0, n=1)) == "80.0"
    assert decode_cell(Reading("decode_tok_per_s", "tok/s", 80.0, stdev=8.0, n=6)) == "80.0±10%"
