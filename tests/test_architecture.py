"""The layout is the architecture: the layer contract holds, and it would catch a breach.

``make lint`` runs import-linter on the package as it is; these tests also prove that the
contract is not a test that cannot fail, by planting a breach in a copy of the package and
watching import-linter refuse it.  A second check finds import cycles between any two
modules (a package and its own modules included), function-level imports too.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import grimp
import pytest

ROOT = Path(__file__).resolve().parent.parent
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"


def lint_imports(package_parent: Path) -> subprocess.CompletedProcess:
    """import-linter with the repository's contracts, on the ``reconciler`` package found under ``package_parent``."""
    environment = {**os.environ, "PYTHONPATH": str(package_parent)}
    return subprocess.run(
        [str(LINT_IMPORTS), "--config", str(ROOT / ".importlinter"), "--no-cache"],
        cwd=package_parent,
        env=environment,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_package_keeps_every_contract() -> None:
    result = lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


BREACHES = [
    (
        "declare/model.py",
        "from reconciler.plan.plan import Plan  # planted\n",
        "Stages: cli and web on top, records at the bottom BROKEN",
    ),
    (
        "plan/gates.py",
        "from reconciler.store.sqlite import SqliteStore  # planted\n",
        "Store backends, and the SQL drivers, only behind the store's port BROKEN",
    ),
    (
        "render/text.py",
        "import psycopg  # planted\n",
        "Store backends, and the SQL drivers, only behind the store's port BROKEN",
    ),
    (
        "accounts/overview.py",
        "import flask  # planted\n",
        "Web and command-line frameworks only in their own layers BROKEN",
    ),
    (
        "declare/fastload.py",
        "def _planted():\n    from reconciler.declare.reading import load_file  # planted\n",
        "No cycles between sibling modules or packages, at any depth BROKEN",
    ),
]


@pytest.mark.parametrize(("module", "line", "verdict"), BREACHES, ids=[b[0] for b in BREACHES])
def test_a_planted_breach_is_refused(tmp_path: Path, module: str, line: str, verdict: str) -> None:
    shutil.copytree(ROOT / "reconciler", tmp_path / "reconciler", ignore=shutil.ignore_patterns("__pycache__"))
    target = tmp_path / "reconciler" / module
    target.write_text(target.read_text(encoding="utf-8") + "\n" + line, encoding="utf-8")
    result = lint_imports(tmp_path)
    assert result.returncode == 1, result.stdout
    assert verdict in result.stdout


def cycles(graph: grimp.ImportGraph) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan), each a cycle of imports."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(module: str) -> None:
        index[module] = low[module] = len(index)
        stack.append(module)
        on_stack.add(module)
        for imported in graph.find_modules_directly_imported_by(module):
            if imported not in index:
                visit(imported)
                low[module] = min(low[module], low[imported])
            elif imported in on_stack:
                low[module] = min(low[module], index[imported])
        if low[module] == index[module]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == module:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for module in sorted(graph.modules):
        if module not in index:
            visit(module)
    return found


def test_no_module_imports_itself_through_others() -> None:
    assert cycles(grimp.build_graph("reconciler")) == []


def test_the_cycle_finder_finds_a_cycle_through_a_package_face() -> None:
    """A rule module importing its package's face while the face imports the rule: the cycle the registry broke."""
    graph = grimp.ImportGraph()
    for module in ("reconciler", "reconciler.rules", "reconciler.rules.enterprise", "reconciler.rules.registry"):
        graph.add_module(module)
    graph.add_import(importer="reconciler.rules", imported="reconciler.rules.enterprise")
    graph.add_import(importer="reconciler.rules.enterprise", imported="reconciler.rules.registry")
    assert cycles(graph) == []
    graph.add_import(importer="reconciler.rules.enterprise", imported="reconciler.rules")
    assert cycles(graph) == [["reconciler.rules", "reconciler.rules.enterprise"]]
