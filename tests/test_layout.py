"""The README's Layout section is the newcomer's map: every module and package of benchharness is on it.

A newcomer found 19 modules missing from it (readings.py, what every gate reads, among them); this keeps the
map whole as modules are added, and names what is missing.
"""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_every_module_and_package_is_on_the_readmes_layout_map():
    readme = (ROOT / "README.md").read_text()
    layout = readme[readme.index("## Layout") :]
    package = ROOT / "benchharness"
    modules = [p.name for p in package.glob("*.py") if p.name not in ("__init__.py", "__main__.py")]
    packages = [f"{p.name}/" for p in package.iterdir() if p.is_dir() and (p / "__init__.py").is_file()]
    missing = sorted(name for name in modules + packages if name not in layout)
    assert not missing, f"README's Layout section does not name: {', '.join(missing)}"
