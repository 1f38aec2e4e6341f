"""The terminal: a progress status that leaves pytest's line as it was, and a table that fits 120 columns."""

from run_documents import case, run

from benchharness.report.progress import ProgressDisplay
from benchharness.report.terminal import TABLE_WIDTH, table
from benchharness.results import RunResult


class Screen:
    """A terminal line: text written with backspaces, as a terminal shows it."""

    def __init__(self) -> None:
        self.cells: list[str] = []
        self.cursor = 0
        self.lines: list[str] = []

    def write(self, content: str, *, flush: bool = False, **markup: bool) -> None:
        for ch in content:
            if ch == "\b":
                self.cursor = max(0, self.cursor - 1)
            elif self.cursor < len(self.cells):
                self.cells[self.cursor] = ch
                self.cursor += 1
            else:
                self.cells.append(ch)
                self.cursor += 1

    def write_line(self, line: str, **markup: bool) -> None:
        self.lines.append(line)

    @property
    def shown(self) -> str:
        return "".join(self.cells[: self.cursor]).rstrip() + "".join(self.cells[self.cursor :]).rstrip()


def test_the_status_is_erased_before_pytest_writes_the_result():
    screen = Screen()
    display = ProgressDisplay(screen, interactive=True, verbose=False, width=120)
    screen.write("suites/test_llm.py ..")
    display("prepare smollm2-135m q4_0: llama.cpp quantize ...")
    assert screen.shown == "suites/test_llm.py .. [prepare smollm2-135m q4_0: llama.cpp quantize ...]"
    display("measuring smollm2-135m-q4_0-llamacpp-cpu")
    assert screen.shown == "suites/test_llm.py .. [measuring smollm2-135m-q4_0-llamacpp-cpu]"
    display.clear()
    screen.write(".")  # pytest's result character lands right after the previous one
    assert "".join(screen.cells[: screen.cursor]) == "suites/test_llm.py ..."


def test_a_long_status_is_cut_to_the_terminal():
    screen = Screen()
    ProgressDisplay(screen, interactive=True, verbose=False, width=80)("x" * 200)
    assert len(screen.shown) == 40 and screen.shown.endswith("…]")


def test_a_log_gets_lines_only_with_verbose():
    quiet, verbose = Screen(), Screen()
    ProgressDisplay(quiet, interactive=False, verbose=False)("measuring x")
    ProgressDisplay(verbose, interactive=False, verbose=True)("measuring x")
    assert quiet.lines == [] and quiet.cells == []
    assert verbose.lines == ["benchharness: measuring x"]


def test_the_final_table_fits_120_columns():
    gates = {"speedup": ("pass", 2.6, 2.5, 2.7), "accuracy_retained": ("inconclusive", 0.956, 0.94, 0.97)}
    cases = [
        case(q, 100.0, backend=b, gates=gates)
        for q in ("fp32", "int8", "int4")
        for b in ("onnxruntime-genai", "openvino-genai")
    ]
    result = RunResult.from_dict(run(cases), "r.json")
    lines = table(result.cases)
    tables = [line for line in lines if not line.startswith("  ")]  # verdict evidence lines are prose
    assert max(len(line) for line in tables) <= TABLE_WIDTH
    assert "smollm2-135m (causal-lm)" in lines and any(line.startswith("int4 openvino-genai cpu") for line in lines)


def test_machine_lines_print_the_noise_and_name_the_cases_run_beside_other_work():
    from benchharness.report.terminal import machine_lines

    loads = [("a", 0.02, 0.2), ("b", 0.65, 0.2), ("c", None, 0.2), ("d", 0.1, 0.05)]
    noise, during = machine_lines("steal 0.0%, other work 3.0% of 2 CPU(s)", loads)
    assert noise == "machine: noise before the run: steal 0.0%, other work 3.0% of 2 CPU(s)"
    assert during.startswith("machine: other work during the cases' timed regions: median 10%, max 65% (b); ")
    assert "2 case(s) over max_outside_load (b 65%, d 10%)" in during and "threads=1" in during
    assert machine_lines(None, [("a", 0.01, 0.2)]) == [
        "machine: other work during the cases' timed regions: median 1%, max 1% (a)"
    ]
    assert machine_lines(None, [("a", None, 0.2)]) == []


def test_fewer_threads_are_advised_only_where_that_would_change_something():
    """A newcomer's finding: the line advised `--bench-set threads=1` to a run whose config already set threads = 1."""
    from benchharness.report.terminal import machine_lines

    loads = [("b", 0.65, 0.2)]
    assert "(--bench-set threads=1)" not in machine_lines(None, loads, threads=1)[0]
    assert machine_lines(None, loads, threads=1)[0].endswith("re-run on a quiet machine")
    assert "fewer threads than the 2 they had (--bench-set threads=1)" in machine_lines(None, loads, threads=2)[0]


def test_the_undecided_verdicts_under_the_table_each_say_their_own_reason():
    """A newcomer's finding: "4 inconclusive verdict(s) (the interval straddles the threshold after the pair
    budget)" counted two baseline moves not decided for outside load, which have no interval against a threshold."""
    from run_documents import case, run

    from benchharness.report.terminal import undecided_lines
    from benchharness.results import RunResult

    straddling = case("q4_0", 150.0, gates={"speedup": ("inconclusive", 1.9, 1.7, 2.1)})
    unconfirmed = case("q8_0", 150.0, gates={"speedup": ("inconclusive", 0.49, 0.45, 0.52)})
    unconfirmed["verdicts"][0]["confirmation"] = "not confirmed"
    busy = {"check": "baseline", "name": "decode_tok_per_s", "status": "inconclusive", "direction": "unknown"}
    for data, load in ((straddling, 82), (unconfirmed, 74)):
        reason = f"outside CPU load this run {load}% over max_outside_load 20%"
        data["verdicts"].append(busy | {"message": f"decode_tok_per_s not decided ({reason})", "reason": reason})
    result = RunResult.from_dict(run([straddling, unconfirmed]), "r.json")
    assert undecided_lines(result.cases) == [
        "1 inconclusive verdict(s) (the interval straddles the threshold after the pair budget): "
        "smollm2-135m-q4_0-llamacpp-cpu",
        "1 inconclusive verdict(s) (a failure its confirming re-run did not repeat): smollm2-135m-q8_0-llamacpp-cpu",
        "2 move(s) against the baseline not decided:",
        "  smollm2-135m-q4_0-llamacpp-cpu baseline decode_tok_per_s: outside CPU load this run 82% over "
        "max_outside_load 20%",
        "  smollm2-135m-q8_0-llamacpp-cpu baseline decode_tok_per_s: outside CPU load this run 74% over "
        "max_outside_load 20%",
    ]


def test_the_bandwidth_line_carries_its_source_and_says_why_there_is_none():
    from benchharness.meters.bandwidth import Bandwidth
    from benchharness.report.terminal import bandwidth_line

    loaded = Bandwidth(2.1e10, 1, "torch sum, best of 5 passes; beside 60% outside CPU load: may read low")
    assert bandwidth_line(loaded) == [
        "machine: read bandwidth for MBU 21.0 GB/s (torch sum, best of 5 passes; beside 60% outside CPU load: may read low)"
    ]
    none = Bandwidth(None, 2, "", unavailable_reason="torch is not installed (pip install torch)")
    assert bandwidth_line(none) == [
        "machine: read bandwidth for MBU unavailable: torch is not installed (pip install torch)"
    ]
    assert bandwidth_line(None) == []
