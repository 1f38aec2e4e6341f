"""The report's first screen in a real headless Chromium, after a real run a user would make.

Two suites measure the digits MLP, one on ONNX Runtime and one on OpenVINO (seconds each), with one deployment
target. The report must open, in a 1280 x 900 window, on the cross-runtime accuracy-vs-speed chart: the whole
figure inside the first viewport, drawn (not blank), with the target's pick labelled in the marks' colour and
the label's pixels on the screenshot, which is saved under the test's tmp_path.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from browser import CHROMIUM, chromium, layout

from conftest import run_digits

pytest.importorskip("onnxruntime", reason="pip install 'benchharness[onnx]'")
pytest.importorskip("openvino", reason="pip install 'benchharness[openvino]'")
pytest.importorskip("sklearn", reason="pip install 'benchharness[exporters]'")

pytestmark = pytest.mark.e2e  # real backends on real models (tests/conftest.py: the markers)

SUITE = """
import pytest

pytestmark = pytest.mark.benchsuite("NAME")

def test_classification(bench_case, bench):
    bench.check(bench_case)
"""

PYPROJECT = """
[tool.benchharness.workload]
min_rounds = 6
min_time_s = 0.2
[tool.benchharness.suites.ort]
models = ["digits-mlp"]
backends = ["onnxruntime"]
[tool.benchharness.suites.ort.gates]
speedup = false
memory_reduction = false
[tool.benchharness.suites.ov]
models = ["digits-mlp"]
backends = ["openvino"]
[tool.benchharness.suites.ov.gates]
speedup = false
memory_reduction = false
[tool.benchharness.targets.edge]
prefer = ["speed", "size"]
"""

WIDTH, HEIGHT = 1280, 900
PICK_RGB = (0xC2, 0x18, 0x5B)  # figures.PICK_COLOR: the marks' colour, used nowhere else on the page

MEASURE = """
const box = e => { const b = e.getBoundingClientRect(); return [b.left, b.top, b.right, b.bottom]; };
const figure = document.querySelector('#first-screen figure svg');
const picks = [...document.querySelectorAll('#first-screen svg text')].filter(t => t.textContent.includes(': edge pick'));
return {
  viewport: [innerWidth, innerHeight],
  figure: figure ? box(figure) : null,
  title: box(document.querySelector('h1')),
  picks: picks.map(t => ({text: t.textContent, box: box(t), visibility: getComputedStyle(t).visibility,
                          opacity: getComputedStyle(t).opacity, fill: getComputedStyle(t).fill})),
};
"""


@pytest.fixture(scope="module")
def report(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("first-screen")
    for name in ("ort", "ov"):
        (root / f"test_{name}.py").write_text(SUITE.replace("NAME", name))
    (root / "pyproject.toml").write_text(PYPROJECT)
    code, output = run_digits(root)
    assert code == 0, output[-3000:]
    return root / "reports" / "latest.html"


def _pink(image: Any, box: tuple[int, int, int, int]) -> int:
    """How many pixels of `box` are the marks' colour (antialiased text keeps its core pixels within ~60 of it)."""
    pixels = np.asarray(image.convert("RGB").crop(box), dtype=float)
    return int((((pixels - PICK_RGB) ** 2).sum(axis=-1) < 60**2).sum())


def test_the_first_screen_holds_every_runtime_on_one_chart_with_the_pick(report):
    page = report.read_text()
    screen = page[page.index('<section id="first-screen">') : page.index("</section>")]
    assert screen.count("<svg") == 1 and page.index('id="first-screen"') < page.index('<section id="changes">')
    for label in ("onnxruntime fp32", "onnxruntime int8", "openvino fp32"):  # both suites' runtimes, one chart
        assert label in screen, f"{label!r} is not on the first screen's chart"
    shipped = re.search(r"target <b>edge</b>: ship <b>(\S+) on (\S+)</b>", screen)
    assert shipped, screen[-3000:]
    assert f"{shipped[2]} {shipped[1]}: edge pick" in screen  # the chart marks the pick the list names


@pytest.mark.skipif(CHROMIUM is None, reason="headless Chromium not installed: apt-get install chromium")
def test_the_first_screen_in_chromium_shows_the_chart_and_the_picks_label(report, tmp_path):
    found = layout(report, tmp_path, MEASURE, WIDTH, HEIGHT)
    shot = tmp_path / "first-screen.png"
    _, urls = chromium(report.as_uri(), tmp_path, f"--screenshot={shot}", f"--window-size={WIDTH},{HEIGHT}")
    assert [u for u in urls if not u.startswith("file://")] == []
    from PIL import Image

    image = Image.open(shot).convert("RGB")
    # --dump-dom's window keeps some height for itself (innerHeight 757 of 900) but the width, which is all
    # this page's layout depends on, is the screenshot's: the boxes measured there are where the shot drew.
    assert image.size == (WIDTH, HEIGHT) and found["viewport"][0] == WIDTH, (image.size, found["viewport"])

    # The whole chart is in the first viewport, and it is drawn: axes, points and text, not a blank box.
    assert found["figure"] is not None, "no figure in #first-screen"
    left, top, right, bottom = found["figure"]
    assert top >= 0 and bottom <= HEIGHT and right - left > 400, found["figure"]
    chart = np.asarray(image.crop((int(left), int(top), int(right), int(bottom))).convert("L"))
    inked = float((chart < 200).mean())
    assert int(chart.max()) - int(chart.min()) > 100 and inked > 0.01, (chart.min(), chart.max(), inked)

    # The pick's label is on screen, visible, and its text draws the marks' colour there: a control copy of the
    # page with only that label's text emptied has fewer such pixels in the label's box (so stars and other
    # marks under the box cannot pass for the text).
    (label,) = found["picks"]
    assert label["visibility"] == "visible" and float(label["opacity"]) > 0.9, label
    x0, y0, x1, y1 = label["box"]
    assert left <= x0 and x1 <= min(right, WIDTH) and top <= y0 and y1 <= bottom, (label, found["figure"])
    control = tmp_path / "control.html"
    text = report.read_text()
    assert text.count(f">{label['text']}</text>") == 1
    control.write_text(text.replace(f">{label['text']}</text>", "></text>"))
    blank = tmp_path / "control.png"
    chromium(control.as_uri(), tmp_path, f"--screenshot={blank}", f"--window-size={WIDTH},{HEIGHT}")
    box = (int(x0), int(y0), int(x1) + 1, int(y1) + 1)
    drawn, without = _pink(image, box), _pink(Image.open(blank), box)
    assert drawn - without >= 10, (drawn, without, label)
