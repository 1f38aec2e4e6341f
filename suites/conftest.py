"""The suites need the benchharness plugin; without it pytest only says that `benchsuite` is an unknown mark.

The plugin registers itself through its pytest11 entry point (listing it here as well would make
pytest refuse to start), so this file only checks that it is there and names it when it is not.
"""

import importlib.util

import pytest


def pytest_configure(config: pytest.Config) -> None:
    # "benchharness": its entry point; "benchharness.plugin": loaded by name with -p, where no entry point is
    # installed (PYTEST_DISABLE_PLUGIN_AUTOLOAD, or the checkout on PYTHONPATH as on a lent GPU machine).
    if config.pluginmanager.has_plugin("benchharness") or config.pluginmanager.has_plugin("benchharness.plugin"):
        return
    if config.pluginmanager.is_blocked("benchharness"):
        why = "is disabled on this command line (-p no:benchharness); drop that option"
    elif importlib.util.find_spec("benchharness") is not None:
        why = "is installed but not loaded (PYTEST_DISABLE_PLUGIN_AUTOLOAD is set?); add -p benchharness.plugin"
    else:
        why = "is not installed in this Python; run pip install -e . in the repository"
    raise pytest.UsageError(f"the suites under suites/ need the benchharness pytest plugin, which {why}")
