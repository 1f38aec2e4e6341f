"""A test module whose tests spawn workers must not import `conftest` at module level.

A spawned worker (multiprocessing's spawn) imports the module its target lives in by name; in a whole-suite
run the name `conftest` there resolves to the repository root's conftest.py, not tests/conftest.py, so the
worker dies of ImportError and the test fails only in CI's order. It happened twice (test_history's writers:
2026-11-30 and 2026-12-01); helpers the workers need live in tests/child_facts.py, run_documents.py and
similar modules, and conftest's helpers are imported inside the test that uses them.
"""

from __future__ import annotations

import ast
from pathlib import Path

TESTS = Path(__file__).resolve().parent


def _top_level_imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), str(path))
    names: set[str] = set()
    for node in tree.body:
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
        elif isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
    return names


def _reached(path: Path, seen: set[Path]) -> set[Path]:
    """`path` and every module of tests/ it imports at module level, transitively."""
    if path in seen:
        return seen
    seen.add(path)
    for name in _top_level_imports(path):
        local = TESTS / f"{name}.py"
        if local.is_file() and name != "conftest":
            _reached(local, seen)
    return seen


def test_modules_that_spawn_workers_import_no_conftest_at_module_level():
    spawning = [p for p in sorted(TESTS.glob("test_*.py")) if "multiprocessing" in p.read_text()]
    assert spawning, "no test module spawns workers: this check would check nothing"
    offenders = [
        f"{module.name} (reached from {path.name})"
        for path in spawning
        for module in sorted(_reached(path, set()))
        if "conftest" in _top_level_imports(module)
    ]
    assert not offenders, f"import conftest's helpers inside the tests that use them: {', '.join(offenders)}"
