"""The workload profiles in the terminal and the sustained run's figure in the HTML report.

The HTML's metric table already lists every suffixed figure; the terminal table holds only the headline's
columns, so without these lines a user who listed `profiles` would see none of their figures where they
look first. Each profile's line gives what it timed and its figures, or the reason it is unavailable.
The sustained run is a series, which a table cannot show: its figure draws throughput per interval with
the 10% line under the start, and the CPU clock where the OS exposed it.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable

from benchharness.readings import Measurement, Reading
from benchharness.report.figures import _pyplot, _svg
from benchharness.results import CaseResult
from benchharness.sustained import Sustained
from benchharness.units import show


def _value(m: Measurement, name: str) -> str:
    """The figure as a profile line shows it: the median of its rounds where the child kept them.

    A TTFT and the prefill rate beside it are one measurement (rate = prompt tokens / TTFT); means of each
    disagree under noise (the mean of 1/x is not 1/mean), medians of the same rounds do not.
    """
    reading = m.readings.get(name)
    if reading is None:
        return "—"
    if reading.value is None:
        return "unavailable"
    rounds = m.round_samples.get(name)
    return show(statistics.median(rounds) if rounds else reading.value, reading.unit)


def _why(readings: dict[str, Reading], names: Iterable[str]) -> str | None:
    for name in names:
        reading = readings.get(name)
        if reading is not None and reading.value is None:
            return reading.unavailable_reason
    return None


def _chat_turns(readings: dict[str, Reading]) -> list[int]:
    return sorted(int(n.rsplit("@chat-t", 1)[1]) for n in readings if n.startswith("ttft_ms@chat-t"))


def _sweep(readings: dict[str, Reading]) -> list[int]:
    return sorted(int(n.rsplit("@pp", 1)[1]) for n in readings if n.startswith("ttft_ms@pp"))


def sustained_text(run: Sustained) -> str:
    """The sustained run in one line: start, steady state, the drop, and the clock and temperature where read."""
    start, steady = run.start_tok_per_s, run.steady_tok_per_s
    change = f" ({steady / start - 1:+.1%})" if start and steady else ""
    text = (
        f"first {run.window_s:g} s {show(start, 'tok/s')}, steady (last {run.window_s:g} s) "
        f"{show(steady, 'tok/s')}{change}; {run.drop_text}"
    )
    clocks = [i.cpu_mhz for i in run.intervals if i.cpu_mhz is not None]
    temps = [i.temperature_c for i in run.intervals if i.temperature_c is not None]
    text += f"; CPU clock {clocks[0]:,.0f} -> {clocks[-1]:,.0f} MHz" if clocks else "; CPU clock not exposed"
    text += f", temperature {temps[0]:.0f} -> {temps[-1]:.0f} C" if temps else ", temperature not exposed"
    return text


def profile_lines(records: Iterable[CaseResult]) -> list[str]:
    """Per case with profiles: one line per profile after the headline."""
    lines: list[str] = []
    for record in records:
        m = record.measurement
        lm = m.info.lm if m else None
        labels = (lm.profiles or {}) if lm is not None else {}
        if not m or lm is None or len(labels) < 2:
            continue
        r = m.readings
        lines.append(f"profiles of {record.case.id} (medians of rounds; the headline, short, is the table's row):")
        for name, label in labels.items():
            if name == "short":
                continue
            if name == "long-prompt":
                why = _why(r, ["ttft_ms@long-prompt"])
                figures = (
                    f"unavailable: {why}"
                    if why
                    else f"TTFT {_value(m, 'ttft_ms@long-prompt')}, prefill {_value(m, 'prefill_tok_per_s@long-prompt')}, "
                    f"decode {_value(m, 'decode_tok_per_s@long-prompt')} [{label}]"
                )
            elif name == "chat":
                turns = _chat_turns(r)
                why = _why(r, [f"ttft_ms@chat-t{t}" for t in turns])
                ttfts = " / ".join(_value(m, f"ttft_ms@chat-t{t}") for t in turns)
                decodes = " / ".join(_value(m, f"decode_tok_per_s@chat-t{t}") for t in turns)
                figures = f"TTFT per turn {ttfts}; decode per turn {decodes}"
                figures += f" (unavailable: {why})" if why else f" [{label}]"
            elif name == "ttft-sweep":
                lengths = _sweep(r)
                figures = "TTFT " + ", ".join(f"pp{n} {_value(m, f'ttft_ms@pp{n}')}" for n in lengths)
                why = _why(r, [f"ttft_ms@pp{n}" for n in lengths])
                figures += f" (unavailable: {why})" if why else ""
            elif name == "sustained" and lm.sustained:
                figures = f"{sustained_text(lm.sustained)} [{label.split(';', 1)[0]}]"
            else:
                figures = str(label)
            lines.append(f"  {name}: {figures}")
    return lines


def sustained_figure(cases: Iterable[CaseResult], title: str) -> str | None:
    """Decode tok/s per interval of each variant's sustained run; dotted: 10% under its start; right axis: clock."""
    runs = [
        (f"{c.case.variant} {c.case.backend}", lm.sustained)
        for c in cases
        if c.measurement is not None and (lm := c.measurement.info.lm) is not None and lm.sustained
    ]
    if not runs:
        return None
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7.0, 3.8))
    clock_axis = None
    for index, (label, run) in enumerate(runs):
        color = plt.get_cmap("tab10")(index % 10)
        points = [(i.end_s, i.tok_per_s) for i in run.intervals if i.tok_per_s is not None]
        ax.plot([x for x, _ in points], [y for _, y in points], marker="o", markersize=3, color=color, label=label)
        if run.start_tok_per_s is not None:
            ax.axhline(run.start_tok_per_s * (1 - run.drop), color=color, linestyle=":", linewidth=1)
        if run.drop_at_s is not None:
            ax.axvline(run.drop_at_s, color=color, linestyle="--", linewidth=1)
        clocks = [(i.end_s, i.cpu_mhz) for i in run.intervals if i.cpu_mhz is not None]
        if clocks:
            clock_axis = clock_axis or ax.twinx()
            clock_axis.plot([x for x, _ in clocks], [y for _, y in clocks], color=color, alpha=0.35, linewidth=1)
    if clock_axis is not None:
        clock_axis.set_ylabel("CPU clock (MHz, faint)")
    ax.set_xlabel("seconds into the sustained run")
    ax.set_ylabel("decode tok/s per interval")
    ax.set_ylim(bottom=0)
    ax.set_title(title)
    ax.legend(fontsize=8, loc="lower left")
    return _svg(fig)
