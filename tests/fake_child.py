"""A fake child and an in-process session on the toy project: the harness's own logic without a runtime.

The session's collaborators (trial runner, baseline check, recorder) decide how many children a case
gets, which failures are confirmed and what is written; those rules are tested here with planted
figures, fast and exactly. That the figures themselves are real is what the end-to-end tests check
(tests/test_e2e_*.py, the digits and SmolLM2 projects).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from child_facts import child_info, lm_facts

from benchharness import backends
from benchharness.backends.base import Backend
from benchharness.child_info import Flag
from benchharness.cli_options import Options
from benchharness.config import load_settings
from benchharness.errors import CaseFailed
from benchharness.kinds import kind
from benchharness.meters.guards import GuardReading
from benchharness.protocol import MeasureRequest, PairedRequest, PairedTiming, encode
from benchharness.readings import Measurement, Reading
from benchharness.session import BenchSession
from conftest import toy_pyproject, write_toy_project

# One cache for every fake session of the test run, outside the user's: what a session caches per machine (its
# read bandwidth, measured in about a second) is measured once, not once per test.
TEST_CACHE = Path(tempfile.gettempdir()) / f"benchharness-fake-sessions-{os.getuid()}"

GATES_SPEED_AND_MEMORY = """
[tool.benchharness.suites.toy.gates]
accuracy_retained = false
speedup = { min = 2.0 }
memory_reduction = { min = 0.5 }
"""


class InProcessFake(Backend):
    """The toy project's backend as the parent sees it: the fake child answers for it, so it never loads."""

    name = "fake"
    runtime_module = "numpy"
    extra = "fake"
    formats = ("gguf",)
    devices = ("cpu",)
    safe_mode = "the fake's repacking off"

    def runtime_version(self) -> str:
        return "fake 1"


@dataclass
class FakeChild:
    """Answers MeasureRequest and PairedRequest as a child would, from planted figures per variant label.

    `speed[label]` is each paired round's decode tok/s (a list: one per child, the last repeated),
    `memory[label]` the model's memory in bytes (a list the same way), `accuracy[label]` its top-1 share. Every request is kept in `requests`.
    """

    speed: dict[str, list[float]]
    memory: dict[str, list[float]] = field(default_factory=dict)
    accuracy: dict[str, float] = field(default_factory=dict)  # top-1 share over 400 items, per label
    fails: tuple[str, ...] = ()  # labels whose children fail (CaseFailed), as a child that could not load
    flags: tuple[Flag, ...] = ()  # the bottleneck flags every solo child raises
    requests: list[Any] = field(default_factory=list)
    _served: dict[str, int] = field(default_factory=dict)

    def _next(self, planted: dict[str, list[float]], label: str, what: str) -> float:
        values = planted.get(label, [1.0])
        i = self._served.get(f"{what}:{label}", 0)
        self._served[f"{what}:{label}"] = i + 1
        return values[min(i, len(values) - 1)]

    def __call__(self, request: Any, *, timeout_s: float, label: str, work_dir: Path) -> dict[str, Any]:
        self.requests.append(request)
        if isinstance(request, PairedRequest):
            v, r = Path(request.variant.path).stem, Path(request.reference.path).stem
            fast, slow = self._next(self.speed, v, "pairs"), self._next(self.speed, r, "pairs")
            n = request.pairs
            jitter = [1.0 + 0.002 * ((i % 3) - 1) for i in range(n)]
            return encode(
                PairedTiming(
                    case_id=request.case_id,
                    metric="decode_tok_per_s",
                    variant=tuple(fast * j for j in jitter),
                    reference=tuple(slow * j for j in reversed(jitter)),
                    order=tuple("VR" if (i % 2 == 0) == (request.first == "variant") else "RV" for i in range(n)),
                    guard_start=GuardReading(),
                    guard_end=GuardReading(),
                    timed_s=0.01,
                )
            )
        assert isinstance(request, MeasureRequest)
        label_now = Path(request.model.path).stem
        if label_now in self.fails:
            raise CaseFailed(f"{label}: planted failure of {label_now}", ("last line of the child",))
        speed = self._next(self.speed, label_now, "solo")
        memory = self._next(self.memory, label_now, "solo") if self.memory else 2.0**20
        readings = {
            "decode_tok_per_s": Reading("decode_tok_per_s", "tok/s", speed, speed * 0.002, 12, "fake"),
            "model_memory_bytes": Reading("model_memory_bytes", "B", memory, None, 1, "fake"),
        }
        samples = {"decode_tok_per_s": [speed * (1.0 + 0.002 * ((i % 3) - 1)) for i in range(12)]}
        if label_now in self.accuracy and request.score_accuracy:
            hits = round(400 * self.accuracy[label_now])
            samples[kind("causal-lm").per_item_outcomes] = [1.0] * hits + [0.0] * (400 - hits)
            readings["top1_accuracy"] = Reading("top1_accuracy", "", hits / 400, None, 400, "fake")
        info = child_info(
            threads=request.threads,
            kind=request.model.kind,
            measurement_key=request.measurement_key,
            accuracy_scored=request.score_accuracy,
            eval_data=request.data,
            flags=self.flags,
            lm=lm_facts(
                prompt_tokens=(p := request.workload.prompt_tokens),
                gen_tokens=(g := request.workload.gen_tokens),
                depths={"headline": f"pp{p} @ d0, tg{g} @ d{p}"},
            ),
        )
        return Measurement(request.case_id, readings, info, (), samples).to_dict()


def toy_session(
    root: Path, variants: list[str], child: FakeChild, policy: str = GATES_SPEED_AND_MEMORY, **options: Any
) -> BenchSession:
    """A BenchSession on the toy project in `root`, its children answered by `child` (in this process)."""
    write_toy_project(root)
    (root / "pyproject.toml").write_text(toy_pyproject(variants, policy=policy))
    settings = replace(load_settings(root), cache_dir=TEST_CACHE)  # never the user's own cache
    return BenchSession(settings, Options(devices=("cpu",), **options), lambda line: None, child=child)


def registered_fake() -> Iterator[None]:
    """The in-process fake backend in the registry for one test (a fixture body: yield from it)."""
    saved = dict(backends._REGISTRY)
    backends._REGISTRY["fake"] = InProcessFake
    try:
        yield
    finally:
        backends._REGISTRY.clear()
        backends._REGISTRY.update(saved)
