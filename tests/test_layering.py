"""The registry is the only place that knows the platforms: the core (webinars/, workers/,
bench/) imports `integrations.base` and `integrations.registry`, never an adapter or the HTTP
layer; and `integrations` never imports the core."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
ALLOWED = {"integrations.base", "integrations.registry"}


def imported(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{a.name}" for a in node.names
                         if node.module == "integrations")
        elif isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
    return names


def test_core_imports_only_the_interface_and_the_registry() -> None:
    wrong = {f"{path.relative_to(ROOT)}: {name}"
             for package in ("webinars", "workers", "bench")
             for path in (ROOT / package).rglob("*.py")
             for name in imported(path)
             if name.startswith("integrations") and name not in ALLOWED}
    assert sorted(wrong) == []


def test_integrations_never_import_the_core() -> None:
    wrong = {f"{path.relative_to(ROOT)}: {name}"
             for path in (ROOT / "integrations").rglob("*.py")
             for name in imported(path)
             if name.split(".")[0] in ("webinars", "workers", "settings")}
    assert sorted(wrong) == []
