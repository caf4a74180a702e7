"""ARCHITECTURE.md's rules, checked: who may import whom, how big a module may grow, and that the
command line holds no flow of its own."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

from .conftest import PROJECT_ROOT

PACKAGE = PROJECT_ROOT / "tiktok_helpers"
#: What the sandbox may import from the package: only what it simulates from.
SANDBOX_MAY_IMPORT = {"signing", "regions", "authlink", "samples", "protocol"}
#: Modules that belong to the layers above the flow: the library below them never imports them.
FRONT_ENDS = {"cli", "widgets"}


def package_imports(path: Path) -> set[str]:
    """The first component of every ``tiktok_helpers`` module ``path`` imports (relative or absolute)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    depth_of_package = len(path.relative_to(PACKAGE).parts) - 1
    found: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom):
            if node.level:
                up = node.level - 1
                if up < depth_of_package:  # a sibling inside the same sub-package
                    continue
                names = (node.module or "").split(".") if node.module else [a.name for a in node.names]
            elif node.module == "tiktok_helpers":
                found.update(alias.name for alias in node.names)
                continue
            elif node.module and node.module.startswith("tiktok_helpers."):
                names = node.module.split(".")[1:]
            else:
                continue
            if names and names[0]:
                found.add(names[0])
        elif isinstance(node, ast.Import):
            for alias in node.names:
                if alias.name.startswith("tiktok_helpers."):
                    found.add(alias.name.split(".")[1])
    return found


def py_files(folder: Path) -> list[Path]:
    return sorted(folder.rglob("*.py"))


def test_the_sandbox_imports_only_what_it_simulates_from() -> None:
    for path in py_files(PACKAGE / "sandbox"):
        extra = package_imports(path) - SANDBOX_MAY_IMPORT - {"sandbox"}
        assert not extra, f"{path.relative_to(PROJECT_ROOT)} imports {sorted(extra)}"


def test_the_library_never_imports_a_front_end() -> None:
    for path in py_files(PACKAGE):
        relative = path.relative_to(PACKAGE)
        if relative.parts[0] in ("cli", "__main__.py", "widgets.py"):
            continue
        assert not package_imports(path) & FRONT_ENDS, f"{relative} imports a front end"


@pytest.mark.parametrize(("folder", "limit"), [("cli", 300), ("sandbox", 400)])
def test_module_size_limits(folder: str, limit: int) -> None:
    files = py_files(PACKAGE / folder)
    assert files, f"tiktok_helpers/{folder}/ has no modules"
    for path in files:
        lines = len(path.read_text(encoding="utf-8").splitlines())
        assert lines <= limit, f"{path.relative_to(PROJECT_ROOT)} has {lines} lines (limit {limit})"


def test_the_command_line_does_not_run_the_flow_itself() -> None:
    for path in py_files(PACKAGE / "cli"):
        text = path.read_text(encoding="utf-8")
        for name in ("parse_redirect", "load_settings", "Session("):
            assert name not in text, f"{path.relative_to(PROJECT_ROOT)} uses {name}: call the Session instead"
