"""Headless Chromium for the report tests: what a page renders, what it fetches, and where things land on screen.

The reports forbid every script by their Content-Security-Policy, so `layout` measures a copy of the page
with only that policy removed and a measuring script appended at the end of its body: the layout it measures
is the page's own (the script adds one element after everything else, and runs after layout).
"""

from __future__ import annotations

import html
import json
import re
import shutil
import subprocess
from pathlib import Path
from typing import Any

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


def chromium(url: str, workdir: Path, *extra: str) -> tuple[str, list[str]]:
    """Open `url` headless; return the rendered DOM and every URL the page asked the network for.

    Chromium's network log records each request's initiator: the browser's own background traffic
    (update checks, clock sync) has none ("not an origin"), anything the page loads has the page's.
    """
    netlog = workdir / f"netlog-{len(list(workdir.glob('netlog-*')))}.json"
    command = [
        CHROMIUM or "chromium", "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
        "--disable-background-networking", "--disable-component-update", "--disable-sync",
        f"--user-data-dir={workdir / 'profile'}", f"--log-net-log={netlog}", "--net-log-capture-mode=Everything",
        *extra, url,
    ]  # fmt: skip
    done = subprocess.run(command, capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    text = netlog.read_text().rstrip().rstrip(",")
    log = json.loads(text if text.endswith("}") else text + "]}")  # a log cut at exit lacks its closing
    start_job = log["constants"]["logEventTypes"]["URL_REQUEST_START_JOB"]
    jobs = [e.get("params", {}) for e in log.get("events", []) if e.get("type") == start_job]
    urls = [str(p["url"]) for p in jobs if "url" in p and p.get("initiator") != "not an origin"]
    return done.stdout, urls


def layout(page: Path, workdir: Path, script: str, width: int, height: int) -> Any:
    """Run `script` (JavaScript whose last value is JSON-able, e.g. an object of bounding boxes) in `page`
    opened at `width` x `height`, and return that value."""
    text = page.read_text()
    text, policies = re.subn(r'<meta http-equiv="Content-Security-Policy"[^>]*>', "", text)
    assert policies == 1, f"{page.name} has {policies} Content-Security-Policy tags, expected 1"
    probe = (
        "<script>const measured = (() => {" + script + "})();"
        "const out = document.createElement('pre'); out.id = 'measured';"
        "out.textContent = JSON.stringify(measured); document.body.appendChild(out);</script>"
    )
    copy = workdir / f"measured-{page.name}"
    copy.write_text(text.replace("</body>", probe + "</body>"))
    dom, _ = chromium(copy.as_uri(), workdir, "--dump-dom", f"--window-size={width},{height}")
    found = re.search(r'<pre id="measured">(.*?)</pre>', dom, re.S)
    assert found, f"the measuring script did not run in {copy}: {dom[-2000:]}"
    return json.loads(html.unescape(found.group(1)))
