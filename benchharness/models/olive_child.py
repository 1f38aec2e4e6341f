"""The process Olive runs in: `python -m benchharness.models.olive_child WORKFLOW.json`.

Olive 0.13's ModelBuilder pass calls onnxruntime-genai's `create_model` directly, but builder 0.15
(the one this harness pins: later builders need transformers 5) reads the checkpoint's details that
its own command line puts in the options first (`check_extra_options`, which sets `hf_details`), so
Olive's pass fails with "Hugging Face details not found in extra_options". This entry point does
what the builder's command line does before `create_model`: the options in the builder's
command-line form (strings; lists joined as its parser splits them) go through `check_extra_options`.
Nothing else of Olive's or the builder's behaviour changes; the builder's own deprecated-name
aliases (`int4_block_size` -> `block_size`, ...) keep Olive's option names working.
"""

from __future__ import annotations

import sys
from typing import Any


def _as_cli(value: Any, key: str) -> Any:
    """An option value as the builder's `--extra_options k=v` parser would hand it over."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (list, tuple)):
        return ("," if "nodes_to_exclude" in key else "/").join(str(v) for v in value)
    return value


def _bridge_builder() -> None:
    from onnxruntime_genai.models import builder

    original = builder.create_model
    if getattr(original, "_olive_bridge", False):
        return

    def create_model(
        model_name: str,
        input_path: str,
        output_dir: str,
        precision: str,
        execution_provider: str,
        cache_dir: str,
        **extra_options: Any,
    ) -> Any:
        if "hf_details" not in extra_options:
            options = {k: _as_cli(v, k) for k, v in extra_options.items()}
            builder.check_extra_options(
                model_name, input_path, output_dir, precision, execution_provider, cache_dir, options
            )
            extra_options = options
        return original(model_name, input_path, output_dir, precision, execution_provider, cache_dir, **extra_options)

    create_model._olive_bridge = True  # type: ignore[attr-defined]
    builder.create_model = create_model


def main(argv: list[str]) -> int:
    if len(argv) != 1:
        print("usage: python -m benchharness.models.olive_child WORKFLOW.json", file=sys.stderr)
        return 2
    _bridge_builder()
    from olive.workflows import run

    output = run(argv[0])
    if output is None or not output.has_output_model():
        print("Error: Olive produced no output model (see the log above)", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
