"""The scaffold of every test that drives benchharness from outside, as a user would: written once.

Such a test writes a tiny project (a pyproject.toml and a suite file) into a temporary folder, runs pytest
or the `benchharness` command there in a child process, and reads what the run wrote (reports/latest.json).
Some twenty modules once carried their own copies of that scaffold (or imported another test module for it),
and the copies drifted: some put this checkout first on the child's PYTHONPATH and some did not, so a child
could import another checkout's installed benchharness and test the wrong code. Here every child started
through these helpers imports this checkout.

Three projects are kept here: the digits MLP on ONNX Runtime (real measurements in seconds), the toy
project on a planted fake backend (crashes, hangs and wrong answers on demand), and the start of a short
causal-LM run. The helpers are plain functions, imported by name (`from conftest import run_pytest`): a test
calls them several times with different folders, arguments and environments, which a fixture would only
wrap. The one fixture, `toy_project`, is there because its tests all run the toy project in pytester's
folder. The tests run in pytest's default "prepend" import mode, which puts tests/ on sys.path (as it does
for run_documents.py and postgres_server.py); no helper here is named pytest_*, which pytest would take
for a hook.
"""

from __future__ import annotations

import json
import os
import re
import struct
import subprocess
import sys
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import pytest

CHECKOUT = Path(__file__).resolve().parents[1]
"""This checkout's root: what a child process must import benchharness from."""


def suite_file(suite: str, test: str) -> str:
    """A suite file of one benchmark test, as a user writes it: every case of suite `suite` runs `test`."""
    return f"""
import pytest

pytestmark = pytest.mark.benchsuite("{suite}")


def {test}(bench_case, bench):
    bench.check(bench_case)
"""


def write_project(
    root: Path, pyproject: str, suite: str, suite_name: str, files: Mapping[str, str | bytes] | None = None
) -> Path:
    """A project folder holding `pyproject` as pyproject.toml, `suite` as `suite_name`, and any extra `files`.

    `root` and the folders of `files` are made as needed, so a test can lay out several projects side by side.
    """
    root.mkdir(parents=True, exist_ok=True)
    (root / suite_name).write_text(suite)
    (root / "pyproject.toml").write_text(pyproject)
    for name, content in (files or {}).items():
        path = root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        if isinstance(content, bytes):
            path.write_bytes(content)
        else:
            path.write_text(content)
    return root


def child_env(extra: Mapping[str, str] | None = None) -> dict[str, str]:
    """This process's environment plus `extra`, with this checkout first on PYTHONPATH.

    Without it a child started in a project folder imports whichever benchharness is installed (an editable
    install may point at another checkout), not the code under test.
    """
    environment = {**os.environ, **(extra or {})}
    environment["PYTHONPATH"] = os.pathsep.join(filter(None, [str(CHECKOUT), os.environ.get("PYTHONPATH")]))
    return environment


def child_pytest_command(*args: str) -> list[str]:
    """The child pytest command a user runs on the CPU: quiet, and without a .pytest_cache in their project.

    `--device=cpu` unless `args` name a device: the plugin refuses an option given twice.
    """
    return [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *on_cpu(args)]


def on_cpu(args: tuple[str, ...]) -> tuple[str, ...]:
    """`args` with `--device=cpu` first, unless they name a device themselves."""
    return args if any(a.startswith("--device") for a in args) else ("--device=cpu", *args)


def run_pytest(root: Path, *args: str, env: Mapping[str, str] | None = None, timeout: float = 600) -> tuple[int, str]:
    """pytest in the project folder `root` (this checkout's benchharness): its exit status and its output.

    `env` adds to this process's environment; `timeout` is each caller's bound on a real run (a 135M model's
    variants made from a cold cache take many minutes).
    """
    done = subprocess.run(
        child_pytest_command(*args), cwd=root, capture_output=True, text=True, env=child_env(env), timeout=timeout
    )
    return done.returncode, done.stdout + done.stderr


def run_cli(cwd: Path, *args: str, timeout: float | None = 300) -> subprocess.CompletedProcess[str]:
    """`benchharness ARGS` in `cwd` (this checkout's), for the exit status and stdout and stderr apart."""
    command = [sys.executable, "-m", "benchharness.cli", *args]
    return subprocess.run(command, cwd=cwd, capture_output=True, text=True, env=child_env(), timeout=timeout)


def latest(root: Path) -> dict[str, Any]:
    """The results document of the last run in project `root` (reports/latest.json), as JSON."""
    return json.loads((root / "reports" / "latest.json").read_text())


def cases_by(root: Path, key: str = "id") -> dict[str, dict[str, Any]]:
    """The last run's cases in project `root`, by `key` ("id", or "variant" where the suite has one backend)."""
    return {case[key]: case for case in latest(root)["cases"]}


TINY_LM_RUN = """
[tool.benchharness.workload]
prompt_tokens = 16
gen_tokens = 8
min_rounds = 2
max_rounds = 2
min_time_s = 0.0

[tool.benchharness.accuracy]
n_ctx = 64
windows = 4
"""
"""The start of a causal LM project's pyproject.toml that checks what a run records, not how fast: two short
rounds and four 64-token windows (a 135M model's case in seconds, each reading still a real one)."""


def one_line(output: str, pattern: str) -> str:
    """The single output line matching `pattern` (a regex), so each message is asserted whole."""
    lines = [line for line in output.splitlines() if re.search(pattern, line)]
    assert lines, f"no line matches {pattern!r} in:\n{output[-3000:]}"
    return lines[0]


# -- the house project: scikit-learn's digits MLP on ONNX Runtime, real measurements in seconds -----------

DIGITS_SUITE = suite_file("d", "test_classification")

DIGITS_PYPROJECT = """
[tool.benchharness.workload]
min_rounds = 6
min_time_s = 0.2
[tool.benchharness.suites.d]
models = ["digits-mlp"]
backends = ["onnxruntime"]
EXTRA
[tool.benchharness.suites.d.gates]
speedup = false
memory_reduction = false
"""

DIGITS_MACHINE = "hardening-test-host"
"""A fixed lab name for the digits project's runs, so its baseline file's name is known."""


def digits_project(root: Path, extra: str = "", files: Mapping[str, str | bytes] | None = None) -> Path:
    """The digits project in `root`; `extra` is TOML added to its suite table, `files` extra files in it."""
    return write_project(root, DIGITS_PYPROJECT.replace("EXTRA", extra), DIGITS_SUITE, "test_d.py", files)


def run_digits(root: Path, *args: str, env: Mapping[str, str] | None = None) -> tuple[int, str]:
    """pytest on the digits project in `root` as the lab machine DIGITS_MACHINE: exit status and output."""
    return run_pytest(root, *args, env={"BENCHHARNESS_MACHINE": DIGITS_MACHINE, **(env or {})})


# -- the toy project: a planted fake backend that crashes, hangs, hogs memory or answers wrongly on demand ---
# It exercises the harness's own logic (isolation, crashes, timeouts, verdicts) in a real child pytest without
# a real runtime. Each mode is a .gguf file whose bytes name what the fake does.

FAKE_BACKEND = """
import os, resource, signal, time
import numpy as np
from benchharness.backends import register
from benchharness.backends.base import Backend


class FakeModel:
    def __init__(self, nan=False, delay=0.001, wrong_every=0, n_vocab=256, two_paths=False):
        self.nan = nan
        self.step = 2 if two_paths else 1  # two_paths: generation steps by 2, its scoring predicts prev + 1
        self.two_paths = two_paths
        self.delay = delay
        self.wrong_every = wrong_every
        self.n_vocab = n_vocab

    def tokenize(self, text):
        return list(text.encode()[:40000])

    def prefill(self, tokens):
        time.sleep(self.delay)
        return (tokens[-1] + self.step) % 256

    def decode(self, token):
        time.sleep(self.delay)
        return (token + self.step) % 256

    def score(self, tokens, first):
        # Predicts the true next token, except every `wrong_every`-th position: a known accuracy.
        rows = len(tokens) - 1 - first
        logits = np.zeros((rows, self.n_vocab), np.float32)
        targets = np.asarray(tokens[first + 1 :])
        if self.two_paths:
            targets = (np.asarray(tokens[first:-1]) + 1) % 256
        if self.wrong_every:
            # Wrong only where the text does not go on as the fake's own greedy generation would (prev + 1), so
            # its timed tokens are its scored ones (tasks/timed_tokens.py), as a real model's are.
            own = targets == (np.asarray(tokens[first:-1]) + 1) % 256
            wrong = (np.arange(rows) % self.wrong_every == 0) & ~own
            targets = np.where(wrong, (targets + 1) % 256, targets)
        logits[np.arange(rows), targets] = 5.0
        if self.nan:
            logits[0, 0] = np.nan
        return logits

    def close(self):
        pass


@register
class FakeBackend(Backend):
    name = "fake"
    runtime_module = "numpy"
    extra = "fake"
    formats = ("gguf",)
    devices = ("cpu",)
    safe_mode = "the fake's repacking off"

    def runtime_version(self):
        return "fake 1"

    def load(self, path, device, options):
        mode = path.read_bytes()[24:].decode()
        if mode == "abort":
            os.abort()
        signals = {"sigill": signal.SIGILL, "sigsegv": signal.SIGSEGV, "sigkill": signal.SIGKILL}
        if mode in signals:
            os.kill(os.getpid(), signals[mode])
        if mode == "repack" and not options.safe_mode:  # a fast path this machine traps, as AMX on some VMs
            os.kill(os.getpid(), signal.SIGILL)
        if mode == "stuck":  # native code holding the main thread, deaf to SIGTERM (seen: ONNX Runtime's Run)
            import ctypes
            signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})
            ctypes.CDLL(None).sleep(3600)
        if mode == "chained":
            try:
                raise KeyError("inner cause")
            except KeyError:
                raise RuntimeError("outer failure while handling the inner one")
        if mode == "hang":
            time.sleep(3600)
        if mode == "hog":
            resource.setrlimit(resource.RLIMIT_AS, (2**30, 2**30))
            hog = []
            while True:
                hog.append(bytearray(2**26))
        speeds = {"fast": 0.0005, "slow": 0.002, "ref": 0.002}
        wrong = {"near": 20, "bad": 2}
        vocab = 300 if mode == "widevocab" else 256  # a variant made from another model's tokenizer
        return FakeModel(
            nan=mode == "nan",
            delay=speeds.get(mode, 0.001),
            wrong_every=wrong.get(mode, 0),
            n_vocab=vocab,
            two_paths=mode == "twopaths",
        )
"""

TOY_SUITE = suite_file("toy", "test_generation")

FAKE_MODES = ["ref", "ok", "abort", "hang", "hog", "nan", "fast", "slow", "near", "bad", "sigill", "sigsegv", "sigkill"]
FAKE_MODES += ["repack", "chained", "stuck", "widevocab", "twopaths"]
NO_SPEED_OR_MEMORY = "[tool.benchharness.suites.toy.gates]\nspeedup = false\nmemory_reduction = false\n"


def toy_pyproject(variants: list[str], timeout: int = 60, policy: str = NO_SPEED_OR_MEMORY) -> str:
    """The toy project's pyproject.toml: suite "toy" runs `variants` of model "toy" (one .gguf per mode) on "fake".

    `timeout` is each case's limit in seconds, `policy` the suite's gates table.
    """
    files = "\n".join(f'{q} = "{q}.gguf"' for q in [*FAKE_MODES, "missing", "corrupt"])
    return f"""
[tool.benchharness]
case_timeout_s = {timeout}
[tool.benchharness.workload]
prompt_tokens = 8
gen_tokens = 4
warmup_rounds = 0
min_rounds = 2
min_time_s = 0.0
[tool.benchharness.accuracy]
n_ctx = 64
windows = 8
[tool.benchharness.models.toy]
reference = "ref"
[tool.benchharness.models.toy.variants]
{files}
[tool.benchharness.suites.toy]
models = ["toy"]
backends = ["fake"]
variants = {json.dumps(variants)}
{policy}
"""


def write_toy_project(root: Path) -> Path:
    """The toy project's files in `root`, but its pyproject.toml: the fake backend, registered by a conftest.py
    (not an entry point, so only this project sees it), the suite, a model file per mode and a corrupt one."""
    (root / "fakebackend.py").write_text(FAKE_BACKEND.strip())
    (root / "conftest.py").write_text("import fakebackend  # registers the fake backend")
    (root / "test_toy.py").write_text(TOY_SUITE.strip())
    header = b"GGUF" + struct.pack("<I", 3) + bytes(16)
    for mode in FAKE_MODES:
        (root / f"{mode}.gguf").write_bytes(header + mode.encode())
    (root / "corrupt.gguf").write_bytes(b"this is not a model")
    return root


@pytest.fixture
def toy_project(pytester: pytest.Pytester) -> Callable[..., pytest.RunResult]:
    """The toy project in pytester's folder; call it with the variants to run (and pytest options) to run it."""
    write_toy_project(pytester.path)

    def run(variants: list[str], *args: str, timeout: int = 60, policy: str = NO_SPEED_OR_MEMORY) -> pytest.RunResult:
        pytester.path.joinpath("pyproject.toml").write_text(toy_pyproject(variants, timeout, policy))
        return pytester.runpytest_subprocess(*on_cpu(("-p", "no:cacheprovider", "-rA", *args)))

    return run
