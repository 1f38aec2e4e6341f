"""A synthetic lab: many machines' nightly history, made from one real results file, with known changes planted.

    python benchmarks/synthetic_lab.py make --machines 20 --nights 30 --seed 1 --out /tmp/lab
    python benchmarks/synthetic_lab.py make --machines 20 --nights 30 --seed 1 --out /tmp/lab --postgres
    python benchmarks/synthetic_lab.py changepoints --machines 20 --nights 30 --seed 1 --out /tmp/lab \\
        --series 20000 --record benchmarks/results/changepoints_false_alarms.md

No lab exists here, so issue 28's figures need one made up, and made up like the real thing: every
series starts from a real figure of the default suite (benchmarks/data/main_suite_results.json.gz,
a gzipped `reports/latest.json` of the README's main command, 99f0b52) and moves night to night by
that figure's own relative spread between three real runs of unchanged code (benchmarks/data/
run_to_run_noise.json, made by the `noise` command from /tmp/aa-nommap's A/A runs). On top of the noise:

- machines differ (each has its own speed factor and noise scale) and come and go (some join late,
  some leave early);
- slow drifts: a few machines lose a fraction of a percent of speed every night;
- steps: planted regressions of known night and size on one case's speed figures;
- went-away changes: one night of one case 15% slower, back the next night;
- bimodal figures: ONNX Runtime FP32's load memory jumps between two levels night to night, as
  weight prepacking makes it do (676 and 948 MiB, benchmarks/results/ort_load_memory.md).

Everything comes from `--seed`. Each night of each machine is a results document appended through the
real store (HistoryStore.append) to SQLite or to a real PostgreSQL server started for the purpose
(tests/postgres_server.py). What was planted is written beside the store as truth.json: which series
got which step, drift, transient or bimodal levels, so a detector can be scored against it.

`changepoints` then reads every series back from the store, runs the change-point detector on each
and scores it against truth.json; it also simulates many more bare series at fixed noise levels for
the rates (noise-only false alarms, 5% steps found) that need tens of thousands of series.
"""

from __future__ import annotations

import argparse
import gzip
import json
import statistics
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "benchmarks" / "data"
TEMPLATE = DATA / "main_suite_results.json.gz"
NOISE = DATA / "run_to_run_noise.json"
FIRST_NIGHT = "2026-11-01"
SPEED_UNITS = {"tok/s": 1, "items/s": 1, "ms": -1}  # +1: higher is faster; -1: a time, lower is faster
BIMODAL_CASE = "smollm2-onnxruntime::smollm2-135m-fp32-onnxruntime-cpu"
BIMODAL_FIGURES = ("model_memory_bytes", "peak_rss_bytes")
BIMODAL_MIB = (676.0, 948.0)  # ORT FP32's load memory over six fresh processes (prepacking on)
STEP_SIZES = (-0.05, -0.15)  # planted slowdowns: one at the edge of what must be found, one clear
TRANSIENT_SIZE = -0.15


@dataclass(frozen=True)
class Planted:
    """One known change on one series: a step (from `night` on), a transient (that night only) or a drift."""

    machine: str
    case_key: str
    figure: str
    kind: str  # "step" | "transient" | "drift" | "bimodal"
    night: int  # the first night of the change (the machine's own night index, from its first run)
    size: float  # relative change of the figure's speed (drift: per night)


@dataclass(frozen=True)
class Machine:
    machine_id: str
    first_night: int
    last_night: int  # inclusive
    speed: float  # this machine's speed relative to the template's
    noise_scale: float  # this machine's night-to-night spread relative to the template machine's


@dataclass(frozen=True)
class Lab:
    seed: int
    nights: int
    machines: tuple[Machine, ...]
    planted: tuple[Planted, ...]
    noise: dict[str, float] = field(default_factory=dict)  # "case_key|figure" -> relative sd


def load_template(path: Path = TEMPLATE) -> dict[str, Any]:
    from benchharness.results import DOCUMENT, MIGRATIONS, SCHEMA_VERSION
    from benchharness.storage import migrate

    with gzip.open(path, "rt") if path.suffix == ".gz" else path.open() as f:
        data: dict[str, Any] = json.load(f)
    return migrate(
        data, DOCUMENT, str(path), SCHEMA_VERSION, MIGRATIONS
    )  # a template of an older schema reads as this one


def series_key(case_key: str, figure: str) -> str:
    return f"{case_key}|{figure}"


def measure_noise(paths: list[Path]) -> dict[str, float]:
    """Each figure's relative spread (sd / mean) between runs of unchanged code, from their results files."""
    from benchharness.history.store import figures
    from benchharness.results import RunResult

    tables = []
    for p in paths:
        (run,) = [RunResult.from_dict(load_template(p), str(p))]
        tables.append({series_key(r["case_key"], r["figure"]): r["value"] for r in figures(run)})
    common = set.intersection(*(set(t) for t in tables))
    out = {}
    for key in sorted(common):
        values = [t[key] for t in tables]
        mean = statistics.fmean(values)
        out[key] = round(statistics.stdev(values) / abs(mean), 6) if mean else 0.0
    return out


def template_series(template: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(case key, figure, unit) of every figure the store keeps from the template run."""
    from benchharness.history.store import figures
    from benchharness.results import RunResult

    run = RunResult.from_dict(template, "template")
    return [(r["case_key"], r["figure"], r["unit"]) for r in figures(run)]


def plan(template: dict[str, Any], noise: dict[str, float], machines: int, nights: int, seed: int) -> Lab:
    """Which machines run which nights, and what is planted where: all from `seed`."""
    rng = np.random.default_rng(seed)
    fleet = []
    for i in range(machines):
        first = int(rng.integers(1, nights // 3)) if i % 5 == 4 else 0  # every fifth joins late
        last = int(rng.integers(2 * nights // 3, nights - 1)) if i % 7 == 6 else nights - 1  # every seventh leaves
        fleet.append(Machine(f"lab-{i:02d}", first, last, float(rng.uniform(0.7, 1.3)), float(rng.uniform(0.5, 1.5))))
    speed_cases: dict[str, list[str]] = {}
    for case_key, figure, unit in template_series(template):
        if unit in SPEED_UNITS and noise.get(series_key(case_key, figure)) is not None:
            speed_cases.setdefault(case_key, []).append(figure)
    cases = sorted(speed_cases)
    planted = []
    for m in fleet:
        own = m.last_night - m.first_night + 1
        picks = rng.choice(len(cases), size=3, replace=False)
        for case_index, size in zip(picks[:2], STEP_SIZES, strict=True):
            night = int(rng.integers(6, own - 3)) if own > 9 else -1
            if night > 0:
                planted += [
                    Planted(m.machine_id, cases[case_index], f, "step", night, size)
                    for f in speed_cases[cases[case_index]]
                ]
        if own > 8:
            night = int(rng.integers(4, own - 3))
            case = cases[picks[2]]
            planted += [Planted(m.machine_id, case, f, "transient", night, TRANSIENT_SIZE) for f in speed_cases[case]]
        if int(m.machine_id[-2:]) % 4 == 3:  # every fourth machine slows down a little every night
            per_night = -float(rng.uniform(0.001, 0.003))
            planted += [Planted(m.machine_id, c, f, "drift", 0, per_night) for c in cases for f in speed_cases[c]]
        planted += [
            Planted(m.machine_id, BIMODAL_CASE, f, "bimodal", 0, BIMODAL_MIB[1] / BIMODAL_MIB[0] - 1.0)
            for f in BIMODAL_FIGURES
        ]
    return Lab(seed, nights, tuple(fleet), tuple(planted), noise)


def _figure_value(
    base: float, unit: str, night: int, machine: Machine, plants: list[Planted], z: float, cv: float
) -> float:
    """One night's figure: the template's, on this machine, through its planted changes, with its noise."""
    speed = machine.speed
    for p in plants:
        if (p.kind == "step" and night >= p.night) or (p.kind == "transient" and night == p.night):
            speed *= 1 + p.size
        elif p.kind == "drift":
            speed *= 1 + p.size * night
        elif p.kind == "bimodal":  # the night's prepacking draw adds its buffers or not; steady otherwise
            return base + (BIMODAL_MIB[1] - BIMODAL_MIB[0]) * 2**20 if z > 0 else base
    direction = SPEED_UNITS.get(unit, 0)
    if direction > 0:
        value = base * speed
    elif direction < 0:
        value = base / speed
    else:
        value = base
    return value * (1 + cv * machine.noise_scale * z)


class NightMaker:
    """Each machine's results document for one night, from the template run."""

    def __init__(self, template: dict[str, Any], lab: Lab) -> None:
        self.template = template
        self.lab = lab
        self.by_series: dict[tuple[str, str, str], list[Planted]] = {}
        for p in lab.planted:
            self.by_series.setdefault((p.machine, p.case_key, p.figure), []).append(p)

    def document(self, machine: Machine, night: int) -> dict[str, Any]:
        own = night - machine.first_night
        rng = np.random.default_rng([self.lab.seed, int(machine.machine_id[-2:]), night])
        started = f"{np.datetime64(FIRST_NIGHT) + np.timedelta64(night, 'D')}T02:00:00+00:00"
        run = {**self.template["run"], "started": started, "finished": started, "git_commit": f"{night:040x}"}
        run["machine"] = {**run["machine"], "id": machine.machine_id}
        cases = []
        for c in self.template["cases"]:
            readings = {}
            for name, r in c["readings"].items():
                if r.get("value") is None:
                    readings[name] = r
                    continue
                readings[name] = {**r, "value": self._value(machine, own, c["key"], name, r["value"], r["unit"], rng)}
            verdicts = [
                self._gate(v, self._value(machine, own, c["key"], f"gate:{v['name']}", v["estimate"], "", rng))
                if v.get("check") == "gate" and v.get("estimate") is not None
                else v
                for v in c.get("verdicts", [])
            ]
            cases.append({**c, "readings": readings, "verdicts": verdicts})
        return {**self.template, "run": run, "cases": cases}

    @staticmethod
    def _gate(verdict: dict[str, Any], estimate: float) -> dict[str, Any]:
        """The gate verdict with its new estimate and its interval moved with it: an estimate left outside its
        own interval is no real gate's, and the report's gate figure refuses it (negative error bars)."""
        factor = estimate / verdict["estimate"] if verdict["estimate"] else 1.0
        if verdict.get("low") is None or verdict.get("high") is None:
            return {**verdict, "estimate": estimate}
        low, high = sorted((verdict["low"] * factor, verdict["high"] * factor))  # a factor < 0 flips the ends
        return {**verdict, "estimate": estimate, "low": low, "high": high}

    def _value(
        self, machine: Machine, night: int, case_key: str, figure: str, base: float, unit: str, rng: np.random.Generator
    ) -> float:
        z = float(rng.standard_normal())
        cv = self.lab.noise.get(series_key(case_key, figure), 0.0)
        plants = self.by_series.get((machine.machine_id, case_key, figure), [])
        return _figure_value(base, unit, night, machine, plants, z, cv)


@contextmanager
def postgres() -> Iterator[str]:
    """A real PostgreSQL server for the lab's store, the one the tests start (Debian's `postgresql`)."""
    sys.path.insert(0, str(ROOT / "tests"))
    from postgres_server import bin_dir, running_server

    found = bin_dir()
    if found is None:
        raise SystemExit("no PostgreSQL server installed: apt-get install postgresql")
    with running_server(found) as url:
        yield url


def make(args: argparse.Namespace, url: str) -> dict[str, Any]:
    """Plan the lab, append every machine's nights to the store at `url`, write truth.json; timings."""
    from benchharness.history.store import HistoryStore
    from benchharness.results import RunResult

    template = load_template(Path(args.template))
    noise = {k: v * args.noise_scale for k, v in json.loads(NOISE.read_text()).items()}
    lab = plan(template, noise, args.machines, args.nights, args.seed)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    store = HistoryStore(url)
    maker = NightMaker(template, lab)
    t0 = time.perf_counter()
    appended = 0
    for night in range(lab.nights):
        for m in lab.machines:
            if m.first_night <= night <= m.last_night:
                doc = maker.document(m, night)
                appended += store.append(RunResult.from_dict(doc, f"{m.machine_id}-night-{night}.json"))
    seconds = time.perf_counter() - t0
    truth = {
        "seed": lab.seed,
        "nights": lab.nights,
        "noise_scale": args.noise_scale,
        "template": str(
            Path(args.template).relative_to(ROOT) if Path(args.template).is_relative_to(ROOT) else args.template
        ),
        "machines": [asdict(m) for m in lab.machines],
        "planted": [asdict(p) for p in lab.planted],
        "night_index": "each machine's own: 0 is its first run in the store",
    }
    (out / "truth.json").write_text(json.dumps(truth, indent=1, sort_keys=True) + "\n")
    store.close()
    return {"runs": appended, "append_s": seconds, "lab": lab, "template": template}


def score_store(url: str, lab: Lab, template: dict[str, Any]) -> dict[str, Any]:
    """Every series of the lab read back through the store, run through detect, scored against the truth."""
    from benchharness.history.changepoints import detect
    from benchharness.history.store import HistoryStore

    store = HistoryStore(url)
    kinds: dict[tuple[str, str, str], set[str]] = {}
    steps: dict[tuple[str, str, str], Planted] = {}
    transients: dict[tuple[str, str, str], Planted] = {}
    for p in lab.planted:
        kinds.setdefault((p.machine, p.case_key, p.figure), set()).add(p.kind)
        if p.kind == "step":
            steps[(p.machine, p.case_key, p.figure)] = p
        if p.kind == "transient":
            transients[(p.machine, p.case_key, p.figure)] = p
    tally: dict[str, Any] = {
        "noise_only_noisy": 0, "noise_only_noisy_alarms": 0, "exact": 0, "exact_alarms": 0,
        "steps": {}, "transients": 0, "transients_named": 0, "transients_called_change": 0,
        "bimodal": 0, "bimodal_alarms": 0, "drift": 0, "drift_found": 0,
    }  # fmt: skip
    t0 = time.perf_counter()
    for m in lab.machines:
        for case_key, figure, _unit in template_series(template):
            key = (m.machine_id, case_key, figure)
            values = [p.value for p in store.series(m.machine_id, case_key, figure, last=lab.nights)]
            found = detect(values)
            what = kinds.get(key, set())
            cv = lab.noise.get(series_key(case_key, figure), 0.0) * m.noise_scale
            if "bimodal" in what:
                tally["bimodal"] += 1
                tally["bimodal_alarms"] += bool(found.points)
            elif "step" in what and "drift" not in what:
                p = steps[key]
                bucket = tally["steps"].setdefault(f"{p.size:+.0%} at {_noise_bucket(cv)}", [0, 0, 0])
                bucket[0] += 1
                bucket[1] += any(abs(cp.index - p.night) <= 3 for cp in found.points)
                early = detect(values[: p.night + 3])
                bucket[2] += any(abs(cp.index - p.night) <= 3 for cp in early.points)
            elif "drift" in what:
                tally["drift"] += 1
                tally["drift_found"] += bool(found.points)
            elif "transient" in what:
                p = transients[key]
                tally["transients"] += 1
                tally["transients_named"] += any(t.start == p.night for t in found.transients)
                tally["transients_called_change"] += any(abs(cp.index - p.night) <= 1 for cp in found.points)
            elif cv > 0:
                tally["noise_only_noisy"] += 1
                tally["noise_only_noisy_alarms"] += bool(found.points)
            else:
                tally["exact"] += 1
                tally["exact_alarms"] += bool(found.points)
    tally["read_and_detect_s"] = time.perf_counter() - t0
    store.close()
    return tally


def _noise_bucket(cv: float) -> str:
    for edge in (0.01, 0.02, 0.03, 0.05):
        if cv <= edge:
            return f"noise <= {edge:.0%}"
    return "noise > 5%"


def simulate(series: int, nights: int, noise_levels: list[float], seed: int) -> list[dict[str, Any]]:
    """Bare series at fixed noise: false alarms on noise only, a 5% step found, a went-away night named."""
    from benchharness.history.changepoints import detect

    rng = np.random.default_rng(seed)
    rows = []
    for cv in noise_levels:
        alarms = transients = found_full = found_early = named = called = 0
        for _ in range(series):
            found = detect(list(100 * (1 + cv * rng.standard_normal(nights))))
            alarms += bool(found.points)
            transients += bool(found.transients)
        for _ in range(series // 4):
            night = int(rng.integers(nights // 4, nights - 3))
            values = 100 * (1 + cv * rng.standard_normal(nights))
            values[night:] *= 0.95
            found_full += any(abs(cp.index - night) <= 3 for cp in detect(list(values)).points)
            found_early += any(abs(cp.index - night) <= 3 for cp in detect(list(values[: night + 3])).points)
            values = 100 * (1 + cv * rng.standard_normal(nights))
            values[night] *= 1 + TRANSIENT_SIZE
            blip = detect(list(values))
            named += any(t.start == night for t in blip.transients)
            called += bool(blip.points)
        rows.append(
            {
                "noise": cv, "series": series, "false_alarms": alarms, "false_transients": transients,
                "step_series": series // 4, "step_found": found_full, "step_found_3_nights_after": found_early,
                "went_away_named": named, "went_away_called_change": called,
            }
        )  # fmt: skip
    return rows


def _pct(a: int, b: int) -> str:
    return f"{a}/{b} ({a / b:.2%})" if b else "0/0"


def record(
    path: Path, command: str, stores: list[tuple[str, dict[str, Any], dict[str, Any]]], rows: list[dict[str, Any]]
) -> None:
    from benchharness.history import changepoints as cp

    lab: Lab = stores[0][1]["lab"]
    lines = [
        "# Change points that do not cry wolf: false alarms and planted steps on a synthetic lab",
        "",
        f"Made by: `{command}`",
        "",
        f"Rules (benchharness/history/changepoints.py defaults): a level holds >= {cp.MIN_SEGMENT} nights; the step is "
        f">= {cp.MIN_NOISE_MULTIPLE:g}x the series' robust sigma (1.4826 x MAD from each level's median) and >= "
        f"{cp.MIN_MAGNITUDE:.0%} of the level; Student's t-test p < {cp.MAX_PVALUE:g}; a night or two past "
        f"{cp.TRANSIENT_MULTIPLE:g} sigma that comes back is a transient. E-Divisive (Otava, window 50) proposes the places.",
        "",
        f"## 1. Bare series at fixed noise (Gaussian, relative sd as given), {lab.nights} nights each",
        "",
        "A step is found when a change point lies within 3 nights of where it was planted: on the whole series, and on "
        "the series cut 3 nights after the step (what the nightly run knows three nights after the change). "
        f"The went-away case: one night {TRANSIENT_SIZE:+.0%}, back the next.",
        "",
        "| noise | noise-only series | with a change point | with a transient | 5% steps | found | found 3 nights after | went-away nights named transient | went-away called a change |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['noise']:.0%} | {r['series']} | {_pct(r['false_alarms'], r['series'])} | "
            f"{_pct(r['false_transients'], r['series'])} | {r['step_series']} | {_pct(r['step_found'], r['step_series'])} | "
            f"{_pct(r['step_found_3_nights_after'], r['step_series'])} | {_pct(r['went_away_named'], r['step_series'])} | "
            f"{_pct(r['went_away_called_change'], r['step_series'])} |"
        )
    for backend, made, tally in stores:
        lines += _store_section(backend, made, tally)
    path.write_text("\n".join(lines) + "\n")


def _store_section(backend: str, made: dict[str, Any], tally: dict[str, Any]) -> list[str]:
    lab: Lab = made["lab"]
    lines = [
        "",
        f"## The lab through the store ({backend}): {len(lab.machines)} machines, {lab.nights} nights, seed {lab.seed}",
        "",
        f"{made['runs']} runs appended with HistoryStore.append in {made['append_s']:.1f} s; every series read back with "
        f"HistoryStore.series and run through detect in {tally['read_and_detect_s']:.1f} s. Each figure's noise is its "
        "relative spread between three real A/A runs (benchmarks/data/run_to_run_noise.json) times the machine's noise scale "
        "(0.5-1.5); machines join late and leave early; truth.json beside the store lists what was planted.",
        "",
        "| series | count | with a change point |",
        "|---|---:|---:|",
        f"| noise only, noisy figures | {tally['noise_only_noisy']} | {_pct(tally['noise_only_noisy_alarms'], tally['noise_only_noisy'])} |",
        f"| exact figures (accuracy, file sizes: no spread between runs) | {tally['exact']} | {_pct(tally['exact_alarms'], tally['exact'])} |",
        f"| bimodal (ORT FP32 load memory, 676 / 948 MiB night to night) | {tally['bimodal']} | {_pct(tally['bimodal_alarms'], tally['bimodal'])} |",
        f"| slow drift (-0.1 to -0.3% a night) | {tally['drift']} | {_pct(tally['drift_found'], tally['drift'])} |",
        "",
        f"Went-away nights ({TRANSIENT_SIZE:+.0%} for one night): {_pct(tally['transients_named'], tally['transients'])} named transient, "
        f"{_pct(tally['transients_called_change'], tally['transients'])} called a change point.",
        "",
        "| planted step, series' noise | steps | found | found 3 nights after |",
        "|---|---:|---:|---:|",
    ]
    for name, (n, full, early) in sorted(tally["steps"].items()):
        lines.append(f"| {name} | {n} | {_pct(full, n)} | {_pct(early, n)} |")
    return lines


def main() -> int:
    top = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    sub = top.add_subparsers(dest="command", required=True)
    n = sub.add_parser(
        "noise", help="each figure's relative spread between runs of unchanged code -> run_to_run_noise.json"
    )
    n.add_argument("results", nargs="+")
    for name in ("make", "changepoints"):
        p = sub.add_parser(name)
        p.add_argument("--template", default=str(TEMPLATE))
        p.add_argument("--machines", type=int, default=20)
        p.add_argument("--nights", type=int, default=30)
        p.add_argument("--seed", type=int, default=1)
        p.add_argument("--noise-scale", type=float, default=1.0, help="multiply every figure's measured spread")
        p.add_argument("--out", required=True, help="folder for history.sqlite and truth.json")
        p.add_argument(
            "--postgres", action="store_true", help="also append to a real PostgreSQL server started for the run"
        )
        if name == "changepoints":
            p.add_argument("--series", type=int, default=20000, help="bare series per noise level")
            p.add_argument("--noise", type=float, nargs="+", default=[0.01, 0.02, 0.03, 0.08])
            p.add_argument("--record", help="write the markdown record here")
    args = top.parse_args()
    if args.command == "noise":
        NOISE.write_text(json.dumps(measure_noise([Path(p) for p in args.results]), indent=1, sort_keys=True) + "\n")
        print(f"wrote {NOISE}")
        return 0
    if (Path(args.out) / "history.sqlite").exists():
        raise SystemExit(f"{Path(args.out) / 'history.sqlite'} already holds a lab; remove it or name another --out")
    stores: list[tuple[str, dict[str, Any], dict[str, Any]]] = []
    for backend in ["SQLite", *(["PostgreSQL"] if args.postgres else [])]:
        sqlite = f"sqlite:///{Path(args.out).resolve() / 'history.sqlite'}"
        with postgres() if backend == "PostgreSQL" else nullcontext(sqlite) as url:
            made = make(args, url)
            print(
                f"{backend}: appended {made['runs']} runs in {made['append_s']:.1f} s; truth in {Path(args.out) / 'truth.json'}"
            )
            if args.command == "changepoints":
                stores.append((backend, made, score_store(url, made["lab"], made["template"])))
    if args.command == "make":
        return 0
    rows = simulate(args.series, args.nights, args.noise, args.seed)
    print(json.dumps({"stores": {b: t for b, _, t in stores}, "bare": rows}, indent=1))
    if args.record:
        command = "python benchmarks/synthetic_lab.py " + " ".join(sys.argv[1:])
        record(Path(args.record), command, stores, rows)
        print(f"wrote {args.record}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
