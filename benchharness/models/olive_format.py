"""Microsoft Olive as a way to make variants: a team's Olive workflow, or Olive's ready-made `olive optimize`.

Teams that optimise small language models for edge hardware with Olive have workflow files, not our
recipe names. This recipe runs one, offline, on the model's checkpoint folder and stores what it
wrote (an ONNX Runtime GenAI folder with `genai_config.json`, or an ONNX model) in the variant cache.

Two ways to say what Olive should do (params, a plain mapping of strings):

- `config`: the team's workflow file (JSON or YAML). Its `input_model` must be an `HfModel`; its
  `model_path` is replaced by the cached checkpoint and its output and cache folders by scratch
  folders, so nothing is written next to the team's file. Olive runs with the file's folder as its
  working directory, so paths inside the file are relative to the file, as a team writes them.
- otherwise Olive's ready-made command, `olive optimize`, with its own options (`precision`,
  `provider`, `device`, `exporter`, `block_size`, `act_precision`, `use_qdq_format`,
  `extra_mb_options`, `task`): Olive writes the workflow it would run (`--dry_run
  --save_config_file`) and that workflow is run the same way.

Everything runs offline (HF_HUB_OFFLINE and friends set for the child): a workflow whose passes would
fetch calibration data from the Hugging Face Hub (Olive's GPTQ and static quantization default to
wikitext-2) is refused with the fix before Olive starts. What Olive did is kept beside the model in
`provenance.json` (workflow SHA-256, passes applied, Olive's version), which the results and the
report show on the row.
"""

from __future__ import annotations

import copy
import hashlib
import importlib.metadata
import json
import os
import shutil
import subprocess
import sys
import tempfile
from argparse import ArgumentParser
from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any

from benchharness.errors import ConfigError, PrepareError
from benchharness.formats import onnx as onnx_format
from benchharness.formats import ortgenai as ortgenai_format
from benchharness.models.recipe_params import canonical
from benchharness.models.recipes import PROVENANCE_FILE

WORKFLOW_SUFFIXES = (".json", ".yaml", ".yml")
COMMANDS = ("optimize",)
# `olive optimize` options a variant may set; the harness sets the model, output and run-mode ones.
COMMAND_OPTIONS = (
    "precision",
    "provider",
    "device",
    "exporter",
    "block_size",
    "act_precision",
    "use_qdq_format",
    "extra_mb_options",
    "task",
)
KNOWN_PARAMS = ("config", "command", *COMMAND_OPTIONS)
# Olive's named data sets that load from the Hugging Face Hub (unreachable offline).
HUB_DATA_PASSES = {"gptq": "GPTQ calibrates on wikitext-2"}
LOCAL_DATASET_BUILDERS = ("text", "json", "csv", "parquet", "arrow")
OFFLINE = {
    "HF_HUB_OFFLINE": "1",
    "TRANSFORMERS_OFFLINE": "1",
    "HF_DATASETS_OFFLINE": "1",
    "OLIVE_DISABLE_TELEMETRY": "1",
    "HF_HUB_DISABLE_TELEMETRY": "1",
}


def olive_version() -> str:
    try:
        return importlib.metadata.version("olive-ai")
    except importlib.metadata.PackageNotFoundError:
        return "absent"


# -- reading and checking a workflow ------------------------------------------------------------


def read_workflow(path: Path, where: str = "olive config") -> dict[str, Any]:
    """The workflow file as a mapping, or a one-line ConfigError naming the file and the fix."""
    if path.suffix.lower() not in WORKFLOW_SUFFIXES:
        raise ConfigError(
            f"{where} = '{path}' is not an Olive workflow file; use a {' / '.join(WORKFLOW_SUFFIXES)} file"
        )
    try:
        text = path.read_text()
    except FileNotFoundError:
        raise ConfigError(
            f"{where} = '{path}' does not exist; give the workflow file's path, relative to the file naming it"
        ) from None
    except OSError as e:
        raise ConfigError(f"{where} = '{path}' cannot be read ({e.strerror})") from None
    try:
        if path.suffix.lower() == ".json":
            data = json.loads(text)
        else:
            import yaml

            data = yaml.safe_load(text)
    except Exception as e:  # json.JSONDecodeError, yaml.YAMLError (which is no ValueError)
        raise ConfigError(f"{where} = '{path}' does not parse ({str(e).splitlines()[0]}); fix the file") from None
    if not isinstance(data, dict):
        raise ConfigError(f"{where} = '{path}' is not an Olive workflow (a mapping with input_model and passes)")
    return data


def workflow_sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _passes(workflow: Mapping[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """(name, pass config) in run order; Olive accepts one config or a list of them per name."""
    found: list[tuple[str, dict[str, Any]]] = []
    for name, value in (workflow.get("passes") or {}).items():
        for one in value if isinstance(value, list) else [value]:
            found.append((str(name), dict(one) if isinstance(one, dict) else {}))
    return found


def passes_applied(workflow: Mapping[str, Any]) -> list[str]:
    """'name (Type)' per pass, in run order: what the row says Olive did."""
    return [f"{name} ({config.get('type', '?')})" for name, config in _passes(workflow)]


def _first_error(error: Exception) -> str:
    errors = getattr(error, "errors", None)
    if callable(errors):
        first = errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ()))
        got = repr(first.get("input"))
        return f"{where}: {first.get('msg')} (got {got if len(got) <= 80 else got[:77] + '...'})"
    return str(error).splitlines()[0]


def check_workflow(workflow: Mapping[str, Any], where: str) -> None:
    """Olive's own validation of the workflow, plus what Olive only warns about (unknown pass options).

    Raises a one-line ConfigError naming the offending key or value and what Olive accepts.
    """
    from olive.package_config import OlivePackageConfig
    from olive.workflows.run.config import RunConfig

    model = workflow.get("input_model")
    if not isinstance(model, dict) or str(model.get("type", "")).lower() != "hfmodel":
        got = model.get("type") if isinstance(model, dict) else model
        raise ConfigError(
            f"{where}: input_model type {got!r} is not supported; the harness runs the workflow on the model's "
            "checkpoint folder, so use input_model = {type: HfModel} (its model_path is replaced)"
        )
    if not _passes(workflow):
        raise ConfigError(f"{where}: the workflow has no passes; add the passes that make the variant")
    _check_offline(workflow, where)  # first: Olive's own error for an undeclared data set hides the fix
    checked = copy.deepcopy(dict(workflow))
    checked["input_model"] = {**model, "model_path": "checkpoint"}
    try:
        RunConfig.parse_file_or_obj(checked)
    except Exception as e:  # pydantic's ValidationError, or Olive's own ValueError
        raise ConfigError(f"{where}: Olive rejects the workflow: {_first_error(e)}") from None
    package = OlivePackageConfig.load_default_config()
    accelerator = _accelerator(workflow)
    for name, config in _passes(workflow):
        kind = str(config.get("type", ""))
        try:
            package.get_pass_module_config(kind)
        except ValueError:
            raise ConfigError(
                f"{where}: pass {name!r} has type {kind!r}, which Olive {olive_version()} does not have; "
                f"known types include {', '.join(sorted(p.module_path.rsplit('.', 1)[1] for p in _sample(package)))}"
            ) from None
        pass_class = package.import_pass_module(kind)
        options = {k: v for k, v in config.items() if k not in ("type", "host", "evaluator", "config")}
        options |= dict(config.get("config") or {})
        known = pass_class.get_config_class(accelerator, disable_search=True)[0].model_fields
        unknown = sorted(set(options) - set(known))
        if unknown:
            raise ConfigError(
                f"{where}: pass {name!r} ({kind}) has no option {unknown[0]!r}; its options: {', '.join(sorted(known))}"
            )
        try:
            pass_class.generate_config(accelerator, options, disable_search=True)
        except Exception as e:  # pydantic's ValidationError names the field and what it accepts
            raise ConfigError(f"{where}: pass {name!r} ({kind}) {_first_error(e)}") from None


def _sample(package: Any) -> list[Any]:
    common = ("ModelBuilder", "OnnxConversion", "OnnxDynamicQuantization", "OnnxBlockWiseRtnQuantization", "Gptq")
    return [package.get_pass_module_config(p) for p in common]


def _accelerator(workflow: Mapping[str, Any]) -> Any:
    """The workflow's target accelerator (device and first execution provider), or Olive's CPU default."""
    from olive.hardware.accelerator import AcceleratorSpec

    systems = workflow.get("systems") or {}
    target = systems.get(workflow.get("target") or "", {}) if isinstance(systems, dict) else {}
    for accelerator in (target.get("accelerators") or []) if isinstance(target, dict) else []:
        providers = accelerator.get("execution_providers") or ["CPUExecutionProvider"]
        return AcceleratorSpec(accelerator_type=accelerator.get("device", "cpu"), execution_provider=providers[0])
    return AcceleratorSpec(accelerator_type="cpu", execution_provider="CPUExecutionProvider")


def _check_offline(workflow: Mapping[str, Any], where: str) -> None:
    """Refuse passes and data configs that would download data: this harness runs Olive offline."""
    declared = {}
    for data in workflow.get("data_configs") or []:
        if isinstance(data, dict):
            declared[data.get("name")] = data
            loader = data.get("load_dataset_config") or {}
            name = loader.get("data_name")
            if name and name not in LOCAL_DATASET_BUILDERS and not Path(str(name)).exists():
                raise ConfigError(
                    f"{where}: data config {data.get('name')!r} loads {name!r} from the Hugging Face Hub, which the "
                    f"harness does not reach (Olive runs offline); use data_name = 'text' with data_files = a local file"
                )
    for name, config in _passes(workflow):
        data = config.get("data_config")
        kind = str(config.get("type", "")).lower()
        if data is None and kind in HUB_DATA_PASSES:
            raise ConfigError(
                f"{where}: pass {name!r} ({config.get('type')}) has no data_config, and Olive's default "
                f"({HUB_DATA_PASSES[kind]}) comes from the Hugging Face Hub, which the harness does not reach; "
                "give it a data_config over a local text file, or remove the pass (the model builder's INT4 is RTN)"
            )
        if isinstance(data, str) and data not in declared:
            raise ConfigError(
                f"{where}: pass {name!r} uses data config {data!r}, which is not in data_configs (Olive's built-in "
                f"{data!r} downloads from the Hugging Face Hub, which the harness does not reach); declare a local one"
            )


# -- the ready-made command ---------------------------------------------------------------------


@cache
def command_choices(command: str) -> dict[str, tuple[str, ...] | None]:
    """Each allowed `olive <command>` option and the values Olive's own parser accepts (None: any)."""
    from olive.cli.optimize import OptimizeCommand

    subparsers = ArgumentParser().add_subparsers()
    OptimizeCommand.register_subcommand(subparsers)
    sub = next(iter(subparsers.choices.values()))
    found: dict[str, tuple[str, ...] | None] = {}
    for action in sub._actions:
        if action.dest in COMMAND_OPTIONS:
            choices = action.choices
            if choices is None and action.nargs == 0:  # a flag
                choices = ("true", "false")
            found[action.dest] = tuple(str(getattr(c, "value", c)) for c in choices) if choices else None
    return found


def _command_args(params: Mapping[str, str]) -> list[str]:
    args: list[str] = []
    for option in COMMAND_OPTIONS:
        if option not in params:
            continue
        value = str(params[option])
        if command_choices("optimize")[option] == ("true", "false"):
            args += [f"--{option}"] if value == "true" else []
        else:
            args += [f"--{option}", value]
    return args


# -- the check and the recipe --------------------------------------------------------------------


def check_params(params: Mapping[str, str]) -> None:
    """Reject what Olive cannot run, before any work: unknown options, bad values, a bad workflow file.

    Each error is one line naming the parameter, its value and what works.
    """
    unknown = sorted(set(params) - set(KNOWN_PARAMS))
    if unknown:
        raise ConfigError(
            f"olive recipe: unknown parameter {unknown[0]!r}; known: {', '.join(KNOWN_PARAMS)} "
            "(config = a workflow file, or olive optimize's options)"
        )
    if "config" in params:
        mixed = sorted(set(params) - {"config"})
        if mixed:
            raise ConfigError(
                f"olive recipe: config = '{params['config']}' is a whole workflow, so {mixed[0]!r} has nothing to "
                "set; put it in the workflow file, or drop config to use olive optimize's options"
            )
        path = Path(params["config"])
        check_workflow(read_workflow(path), f"olive config '{path}'")
        return
    command = str(params.get("command", "optimize"))
    if command not in COMMANDS:
        raise ConfigError(f"olive recipe: command = {command!r} is not supported; use one of {', '.join(COMMANDS)}")
    if "precision" not in params:
        raise ConfigError("olive recipe: set precision (e.g. 'int4') or config = '<workflow file>'")
    for option, choices in command_choices(command).items():
        value = params.get(option)
        if value is None:
            continue
        if choices is not None and str(value) not in choices:
            raise ConfigError(
                f"olive recipe: {option} = {value!r} is not one Olive {olive_version()} accepts; use one of "
                f"{', '.join(choices)}"
            )
        if option == "block_size" and not str(value).lstrip("-").isdigit():
            raise ConfigError(f"olive recipe: block_size = {value!r} is not an integer; use e.g. 32, 128 or -1")


def key_params(params: Mapping[str, str]) -> dict[str, str]:
    """The params as the cache key sees them: a workflow file by its content, not its path.

    An edited workflow makes a new variant; the same file in a moved or freshly cloned project
    reuses the cached one.
    """
    keyed = dict(params)
    if "config" in keyed:
        keyed["config"] = f"sha256:{workflow_sha256(Path(keyed['config']))}"
    return keyed


def _run(command: list[str], cwd: Path, threads: int, what: str) -> None:
    env = dict(os.environ) | OFFLINE | {"OMP_NUM_THREADS": str(threads)}
    done = subprocess.run(command, capture_output=True, text=True, env=env, cwd=cwd, check=False)
    if done.returncode != 0:
        lines = [line for line in (done.stderr + done.stdout).splitlines() if line.strip()]
        errors = [line for line in lines if "Error" in line or "Exception" in line] or lines
        raise PrepareError(f"Olive failed {what} (exit {done.returncode}): {' | '.join(errors[-3:])[:500]}")


def _generated_workflow(source: Path, params: Mapping[str, str], scratch: Path, threads: int) -> dict[str, Any]:
    """The workflow `olive optimize` would run with these options, as Olive itself writes it (dry run)."""
    out = scratch / "command"
    command = [sys.executable, "-m", "olive", "optimize", "-m", str(source), "-o", str(out)]
    command += [*_command_args(params), "--save_config_file", "--dry_run", "--disable_telemetry"]
    _run(command, scratch, threads, "writing the optimize workflow")
    return read_workflow(out / "config.json", "olive optimize's workflow")


def output_format(params: Mapping[str, str]) -> str:
    """The format Olive's output will be in: 'ortgenai' where a ModelBuilder pass writes it, else 'onnx'.

    For the declaration layer (the variant's format and the backends that load it, checked at
    start-up) and for the recipe (the output must be what was promised).
    """
    if "config" in params:
        kinds = [str(c.get("type", "")).lower() for _, c in _passes(read_workflow(Path(params["config"])))]
        return "ortgenai" if "modelbuilder" in kinds else "onnx"
    return "ortgenai" if params.get("exporter", "model_builder") == "model_builder" else "onnx"


def _model_folder(output: Path) -> Path:
    """Where in Olive's output the model sits: the folder holding genai_config.json, else model.onnx."""
    for marker in (ortgenai_format.CONFIG_FILE, onnx_format.MODEL_FILE):
        found = sorted(output.rglob(marker), key=lambda p: len(p.parts))
        if found:
            return found[0].parent
    listing = ", ".join(sorted(str(p.relative_to(output)) for p in output.rglob("*") if p.is_file())[:8])
    raise PrepareError(
        f"Olive's workflow wrote no {ortgenai_format.CONFIG_FILE} or {onnx_format.MODEL_FILE} "
        f"(it wrote: {listing or 'nothing'}); "
        "end the workflow with a pass that writes an ONNX model (e.g. ModelBuilder)"
    )


def run_workflow(source: Path | None, destination: Path, values: Mapping[str, Any], threads: int) -> None:
    """Recipe: Olive's workflow (a team's file, or what `olive optimize` writes) on the checkpoint, offline.

    `values`: the recipe's typed parameters, None where not given (Olive's own defaults then apply).
    """
    assert source is not None
    params = {name: canonical(value) for name, value in values.items() if value is not None}
    with tempfile.TemporaryDirectory(prefix="olive-") as temp:
        scratch = Path(temp)
        if "config" in params:
            path = Path(params["config"]).resolve()
            workflow, cwd = read_workflow(path), path.parent
            origin = {"workflow": str(path), "workflow_sha256": workflow_sha256(path)}
        else:
            workflow, cwd = _generated_workflow(source, params, scratch, threads), scratch
            options = " ".join(_command_args(params))
            origin = {"command": f"olive {params.get('command', 'optimize')} {options}".strip()}
            origin["workflow_sha256"] = hashlib.sha256(json.dumps(workflow, sort_keys=True).encode()).hexdigest()
        check_workflow(workflow, f"the workflow of {origin.get('command') or origin['workflow']}")
        run = copy.deepcopy(workflow)
        run["input_model"] = {**run["input_model"], "model_path": str(source)}
        for key in ("output_dir", "cache_dir", "cache_config", "log_to_file"):
            run.pop(key, None)
        run |= {"output_dir": str(scratch / "out"), "cache_dir": str(scratch / "cache"), "no_artifacts": True}
        if isinstance(run.get("engine"), dict):  # the older nested form keeps these under engine
            for key in ("output_dir", "cache_dir", "cache_config"):
                run["engine"].pop(key, None)
        config = scratch / "workflow.json"
        config.write_text(json.dumps(run, indent=2))
        child = str(Path(__file__).with_name("olive_child.py"))  # Olive with the builder bridged (see there)
        _run([sys.executable, child, str(config)], cwd, threads, "running the workflow")
        folder = _model_folder(scratch / "out")
        fmt = (
            ortgenai_format.FORMAT.name if (folder / ortgenai_format.CONFIG_FILE).is_file() else onnx_format.FORMAT.name
        )
        if fmt != output_format(params):
            raise PrepareError(
                f"Olive's workflow wrote an {fmt} model where its passes promise {output_format(params)}; "
                "check the workflow's last pass"
            )
        shutil.copytree(folder, destination)
    provenance = {
        "made_by": f"Olive {olive_version()}",
        "olive": olive_version(),
        "passes": passes_applied(workflow),
        **origin,
    }
    (destination / PROVENANCE_FILE).write_text(json.dumps(provenance, indent=2, sort_keys=True) + "\n")
