"""The package layout's rules, read from the source with ``ast`` (see ``triton_ingest/__init__.py``)."""

from __future__ import annotations

import ast
import importlib.util
import re
from pathlib import Path

import pytest

import triton_ingest
from triton_ingest.paths import DEFAULT_MODEL_REPOSITORY, REPO_ROOT

PACKAGE = Path(triton_ingest.__file__).parent
SHARED = {"errors", "contracts", "paths"}
ENTRY_POINTS = {"cli", "demo"}
MAY_IMPORT = {
    "models": {"models"} | SHARED,
    "pipeline": {"pipeline", "models"} | SHARED,
    "serving": {"serving", "pipeline", "models"} | SHARED,
    "gateway": {"gateway", "jobs", "pipeline", "models"} | SHARED,
    "jobs": {"jobs"} | SHARED,
    **{name: SHARED for name in SHARED},
}
"""What each part of ``triton_ingest`` may import from the package; entry points may import anything."""
PB_UTILS = "triton_python_backend_utils"
ADAPTER = PACKAGE / "serving" / "triton_adapter.py"


def dotted(path: Path) -> str:
    """``triton_ingest.serving.server`` for ``.../triton_ingest/serving/server.py``."""
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(path: Path) -> set[str]:
    """Absolute names of every module ``path`` imports (see :func:`imports_in`)."""
    package = dotted(path) if path.name == "__init__.py" else dotted(path).rpartition(".")[0]
    return imports_in(path.read_text(), package)


def imports_in(source: str, package: str) -> set[str]:
    """Modules imported by ``source`` living in ``package``: relative imports resolved, lazy ones included."""
    found = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            found.add(base)
            found |= {f"{base}.{alias.name}" for alias in node.names}  # `from . import x` imports module x
    return found


def part_of(module: str) -> str | None:
    """The part of triton_ingest a module belongs to (``serving``, ``errors``, ...), or None outside it."""
    parts = module.split(".")
    return parts[1] if parts[0] == "triton_ingest" and len(parts) > 1 else None


SOURCES = sorted(PACKAGE.rglob("*.py"))


def test_the_top_level_holds_only_shared_modules_and_entry_points():
    top = {p.stem for p in PACKAGE.glob("*.py")} - {"__init__"}
    packages = {p.parent.name for p in PACKAGE.glob("*/__init__.py")}
    assert top == SHARED | ENTRY_POINTS
    assert packages == set(MAY_IMPORT) - SHARED


@pytest.mark.parametrize("package", sorted(set(MAY_IMPORT) - SHARED))
def test_each_subpackage_says_what_lives_there_and_what_it_may_import(package):
    doc = ast.get_docstring(ast.parse((PACKAGE / package / "__init__.py").read_text())) or ""
    modules = {p.stem for p in (PACKAGE / package).glob("*.py")} - {"__init__"}
    assert all(f"``{module}``" in doc for module in modules), (package, doc)
    assert "May import" in doc and "never" in doc


@pytest.mark.parametrize("path", SOURCES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_imports_follow_the_layout(path):
    own = part_of(dotted(path))
    if own in ENTRY_POINTS or own is None:
        return  # the entry points and the package's own __init__ compose everything
    used = {part_of(m) for m in imported_modules(path)} - {None}
    assert used <= MAY_IMPORT[own], f"{own} may not import {sorted(used - MAY_IMPORT[own])}"


def test_only_the_adapter_touches_triton_python_backend_utils():
    everywhere = [*SOURCES, *DEFAULT_MODEL_REPOSITORY.rglob("*.py"), *(REPO_ROOT / "pytriton_app").rglob("*.py"),
                  *(REPO_ROOT / "benchmarks").rglob("*.py")]
    importers = {p for p in everywhere if not p.is_symlink() and PB_UTILS in imports_in(p.read_text(), "")}
    assert importers == {ADAPTER}


OUTSIDE = [*DEFAULT_MODEL_REPOSITORY.rglob("model.py"), *(REPO_ROOT / "pytriton_app").rglob("*.py"),
           *(REPO_ROOT / "benchmarks").rglob("*.py")]
"""Code outside the package that imports it: Triton's model files, the PyTriton app, the benchmarks."""


def package_imports(path: Path) -> set[tuple[str, str | None]]:
    """``(module, name)`` for every ``from triton_ingest… import name``, ``(module, None)`` for ``import``."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.ImportFrom) and not node.level and part_of(node.module or ""):
            found |= {(node.module, alias.name) for alias in node.names}
        elif isinstance(node, ast.Import):
            found |= {(alias.name, None) for alias in node.names if part_of(alias.name)}
    return found


def resolves(module: str, name: str | None) -> bool:
    """``module`` exists and defines ``name`` (a submodule, or a top-level name), without importing it."""
    spec = importlib.util.find_spec(module)
    if spec is None or name is None:
        return spec is not None
    if spec.submodule_search_locations and importlib.util.find_spec(f"{module}.{name}") is not None:
        return True
    tree = ast.parse(Path(spec.origin).read_text())
    defined = {node.name for node in tree.body if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))}
    for node in tree.body:
        if isinstance(node, (ast.Assign, ast.AnnAssign)):
            defined |= {t.id for t in (node.targets if isinstance(node, ast.Assign) else [node.target])
                        if isinstance(t, ast.Name)}
        elif isinstance(node, (ast.Import, ast.ImportFrom)):
            defined |= {alias.asname or alias.name for alias in node.names}
    return name in defined


def test_code_outside_the_package_imports_what_exists():
    """Caught without a server: model.py files otherwise run only inside tritonserver."""
    wanted = {item for path in OUTSIDE if not path.is_symlink() for item in package_imports(path)}
    commands = (REPO_ROOT / "Makefile").read_text() + (REPO_ROOT / "Dockerfile").read_text()
    wanted |= {(module, None) for module in re.findall(r"-m (triton_ingest[\w.]*)", commands)}
    assert len(wanted) > 10
    assert [item for item in sorted(wanted, key=str) if not resolves(*item)] == []


def test_the_checker_resolves_relative_and_lazy_imports():
    source = "from ..serving.server import TritonServer\nfrom . import tokenization\n" \
             "def f():\n    import triton_python_backend_utils\n"
    found = imports_in(source, "triton_ingest.models")
    assert {"triton_ingest.serving.server", "triton_ingest.models.tokenization", PB_UTILS} <= found
    assert {part_of(m) for m in found} - {None} == {"serving", "models"}  # serving: a broken rule
