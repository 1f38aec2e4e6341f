"""Noise on record (issue 23 part 7): steal, neighbours' work and timer jitter, read before the first case."""

from __future__ import annotations

from pathlib import Path

import pytest

from benchharness.judge import Verdict, with_steal_note
from benchharness.meters.noise import Noise, read_noise
from conftest import digits_project, latest, run_digits


def test_the_idle_window_reads_shares_of_the_cpus_and_the_timers_lateness():
    noise = read_noise(0.2)
    assert 0.19 <= noise.window_s < 1.0 and noise.cpus >= 1
    assert noise.steal_share is None or 0.0 <= noise.steal_share <= 1.0
    assert 0.0 <= noise.outside_busy_share <= 1.0
    assert 0.0 <= noise.sleep_overshoot_p50_us <= noise.sleep_overshoot_p99_us
    assert "1 ms sleep overshoot" in noise.describe()


def test_heavy_steal_is_said_on_every_speed_verdict_and_only_there():
    stolen = Noise(1.0, 2, 0.12, 0.15, 60.0, 400.0)
    note = stolen.heavy_steal()
    assert note.startswith("the hypervisor took 12% of the CPUs' time (steal)")
    verdicts = [
        Verdict("gate", "speedup", "pass", "speedup 2.4x"),
        Verdict("gate", "accuracy_retained", "pass", "kept 99%"),
        Verdict("baseline", "decode_tok_per_s", "pass", "within noise"),
        Verdict("baseline", "peak_rss_bytes", "pass", "within noise"),
        Verdict("baseline", "top1_accuracy", "pass", "unchanged"),
        Verdict("limit", "ttft_ms@d512", "pass", "under 100 ms"),
    ]
    noted = [v.name for v in with_steal_note(verdicts, note) if note in v.message]
    assert noted == ["speedup", "decode_tok_per_s", "ttft_ms@d512"]
    assert Noise(1.0, 2, 0.01, 0.0, 60.0, 400.0).heavy_steal() == ""
    assert Noise(1.0, 2, None, 0.0, 60.0, 400.0).heavy_steal() == "", "no counter: nothing claimed"


@pytest.mark.e2e
def test_a_run_records_its_noise_and_the_report_shows_it(tmp_path: Path):
    pytest.importorskip("onnxruntime", reason="pip install 'benchharness[onnx]'")
    pytest.importorskip("sklearn", reason="pip install 'benchharness[exporters]'")

    root = digits_project(tmp_path)
    code, out = run_digits(root, "-k", "fp32")
    assert code == 0, out[-3000:]
    noise = latest(root)["run"]["noise"]
    assert set(noise) == {
        "window_s",
        "cpus",
        "steal_share",
        "outside_busy_share",
        "sleep_overshoot_p50_us",
        "sleep_overshoot_p99_us",
    }
    (report,) = (root / "reports").glob("report-*.html")
    assert "noise before the run" in report.read_text() and "1 ms sleep overshoot" in report.read_text()
