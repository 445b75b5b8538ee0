"""The layers, held by a test: arrows point down only.

service ─▶ mqtt ─▶ core
   │                ▲
   └──▶ transports ─┘        simulator ─▶ transports' codecs, core

The core imports no transport, no MQTT and no service module; transports import no MQTT; MQTT imports no
transport. Every import counts, those under `TYPE_CHECKING` too: a type from an upper layer is a dependency
on it all the same.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

PACKAGE = Path(__file__).resolve().parents[2] / "bridge"
LAYERS = ("core", "transports", "mqtt", "service", "simulator")
#: What each layer may not import.
FORBIDDEN: dict[str, frozenset[str]] = {
    "core": frozenset({"transports", "mqtt", "service", "simulator"}),
    "transports": frozenset({"mqtt", "service", "simulator"}),
    "mqtt": frozenset({"transports", "service", "simulator"}),
    "simulator": frozenset({"mqtt", "service"}),
    "service": frozenset(),
}


def _layer_of(module: str) -> str | None:
    """`bridge.core.poller` -> `core`; `bridge` itself (its version) belongs to no layer."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[0] == "bridge" else None


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module is not None and node.level == 0:
            found.add(node.module)
            # `from bridge import core` names a layer by its attribute.
            if node.module == "bridge":
                found.update(f"bridge.{alias.name}" for alias in node.names)
    return {name for name in found if name.startswith("bridge")}


def _modules() -> list[Path]:
    return sorted(PACKAGE.rglob("*.py"))


def layer_violations(package: Path, modules: list[Path]) -> list[str]:
    """One line per import that points up or sideways."""
    violations = []
    for path in modules:
        own = path.relative_to(package).parts[0]
        for imported in sorted(_imports(path)):
            if _layer_of(imported) in FORBIDDEN.get(own, frozenset()):
                violations.append(f"{path.relative_to(package.parent)} imports {imported}")
    return violations


def test_every_module_sits_in_a_layer() -> None:
    """A new module goes in a layer's folder, never beside them at the root."""
    loose = [path.name for path in _modules() if path.parent == PACKAGE and path.name != "__init__.py"]
    assert loose == []
    assert {path.relative_to(PACKAGE).parts[0] for path in _modules() if path.parent != PACKAGE} == set(
        LAYERS
    )


def test_arrows_point_down_only() -> None:
    assert layer_violations(PACKAGE, _modules()) == []


def test_the_rule_catches_an_import_that_points_up(tmp_path: Path) -> None:
    """The check itself: a core module importing MQTT, under `TYPE_CHECKING` too, is caught."""
    core = tmp_path / "core"
    core.mkdir()
    upward = core / "upward.py"
    upward.write_text(
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n"
        "    from bridge.mqtt.announcer import Announcer\n"
        "import bridge.transports.router\n"
    )
    assert layer_violations(tmp_path, [upward]) == [
        f"{tmp_path.name}/core/upward.py imports bridge.mqtt.announcer",
        f"{tmp_path.name}/core/upward.py imports bridge.transports.router",
    ]


def test_the_readme_layout_names_every_module() -> None:
    """A newcomer finds every module in the README's layout: by its path, or by its name on its folder's
    row."""
    readme = (PACKAGE.parent / "README.md").read_text()
    layout = readme[readme.index("## Layout") :]
    rows = [line for line in layout.splitlines() if line.startswith("| `bridge/")]
    missing = []
    for path in _modules():
        if path.name == "__init__.py":
            continue
        relative = path.relative_to(PACKAGE.parent).as_posix()
        folder = path.parent.relative_to(PACKAGE.parent).as_posix() + "/"
        named = any(
            f"`{relative}`" in row or (f"`{folder}`" in row and f"`{path.name}`" in row) for row in rows
        )
        if not named:
            missing.append(relative)
    assert missing == []
