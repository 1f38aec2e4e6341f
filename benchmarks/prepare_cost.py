"""Cold-prepare cost: every variant the default suites use, made into an empty cache, timed.

The issue's target is a cold prepare within 5 minutes on the 2-core machine. Run it with a cache
folder that does not exist yet (nothing is reused):

    python3 benchmarks/prepare_cost.py /tmp/empty-cache
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from benchharness.backends import registry
from benchharness.config import load_settings
from benchharness.matrix import family_for
from benchharness.models.prepare import Preparer
from benchharness.models.registry import build_registry


def main(cache: Path) -> None:
    if cache.exists() and any(cache.iterdir()):
        sys.exit(f"{cache} is not empty; give a new folder so nothing is reused")
    settings = load_settings(Path(__file__).resolve().parent.parent)
    models = build_registry(settings.models)
    backends = {name: cls() for name, cls in registry().items()}
    preparer = Preparer(cache, threads=2, timeout_s=1800, progress=print)
    started = time.perf_counter()
    for suite in settings.suites.values():
        for model_name in suite.models or list(models):
            model = models[model_name]
            for backend_name in suite.backends or list(backends):
                fmt = family_for(model, backends[backend_name])
                if fmt is None:
                    continue
                for label in suite.variants or model.labels(fmt):
                    if label in model.labels(fmt):
                        preparer.prepare(model, fmt, label)
    print(f"cold prepare of every default-suite variant: {time.perf_counter() - started:.1f} s")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
