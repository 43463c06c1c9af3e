"""The package's layout, read from its import graph: layers import downwards only, nothing imports
itself round a cycle, the sans-I/O core touches no I/O, the data models load no I/O module, the
generated sync files are whole and marked, and no module grows past what one reader can hold.

The rules are the ones CONTRIBUTING.md draws ("Layout"); each check names the offending import.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "knouds"

# Each part of the package and its layer: a module imports from its own layer or lower ones.
LAYERS: dict[str, int] = {
    "knouds._public": 0,
    "knouds._version": 0,
    "knouds._types": 0,
    "knouds._exceptions": 1,
    "knouds.models": 1,
    "knouds.webhooks": 1,
    "knouds._core": 2,
    "knouds._stores": 3,
    "knouds._transports": 3,
    "knouds._media": 3,
    "knouds._telemetry": 3,
    "knouds._base": 4,
    "knouds._async": 5,
    "knouds._sync": 5,
    "knouds.resources": 6,
    "knouds": 6,  # the package's __init__: the lazy table of public names
    "knouds._cli": 7,
    "knouds.__main__": 7,
    "knouds._pytest_plugin": 7,
    "knouds.testing": 7,
}
# Imports made inside a function on purpose, upwards: the data models' I/O helpers
# (`Media.save`, `Media.read`) load the download code only when called.
LAZY_UPWARDS = {
    ("knouds.models", "knouds._media"),
    ("knouds.models", "knouds._sync"),
    ("knouds.models", "knouds._async"),
}
# Modules the core may not import: it decides, the shells and stores do the I/O.
CORE_FORBIDDEN = (
    "asyncio",
    "socket",
    "ssl",
    "selectors",
    "sqlite3",
    "threading",
    "subprocess",
    "multiprocessing",
    "concurrent",
    "httpcore",
    "aiohttp",
    "anyio",
    "redis",
    "knouds._stores",
    "knouds._transports",
    "knouds._media",
    "knouds._base",
    "knouds._async",
    "knouds._sync",
    "knouds._cli",
)
# Modules the data models may not load when imported.
IO_MODULES = ("httpx", "httpcore", "sqlite3", "redis", "aiohttp", "anyio", "ssl")
# Modules allowed past the size limit, with the reason.
LONG_MODULES = {
    "knouds/_exceptions.py": "the error tree, one documented module",
}
MAX_LINES = 420


@dataclass(frozen=True)
class Import:
    source: str  # importing module
    target: str  # imported module (absolute)
    line: int
    lazy: bool  # inside a function
    typing_only: bool  # under `if TYPE_CHECKING:`


def module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def _resolve(module: str, is_package: bool, node: ast.ImportFrom) -> list[str]:
    if node.level == 0:
        base = node.module or ""
    else:
        parts = module.split(".")
        if not is_package:
            parts.pop()
        for _ in range(node.level - 1):
            parts.pop()
        base = ".".join([*parts, node.module] if node.module else parts)
    if not base.startswith("knouds"):
        return [base]
    # `from . import x` may name a submodule: count both the package and the submodule (the
    # checks keep only names that are modules of the package).
    return [base] + [f"{base}.{alias.name}" for alias in node.names]


def imports_of(path: Path) -> Iterator[Import]:
    module = module_name(path)
    tree = ast.parse(path.read_text(encoding="utf-8"))
    is_package = path.name == "__init__.py"

    def visit(node: ast.AST, lazy: bool, typing_only: bool) -> Iterator[Import]:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.If) and "TYPE_CHECKING" in ast.unparse(child.test):
                for item in child.body:
                    yield from visit_one(item, lazy, True)
                for item in child.orelse:
                    yield from visit_one(item, lazy, typing_only)
                continue
            yield from visit_one(child, lazy, typing_only)

    def visit_one(child: ast.AST, lazy: bool, typing_only: bool) -> Iterator[Import]:
        if isinstance(child, ast.Import):
            for alias in child.names:
                yield Import(module, alias.name, child.lineno, lazy, typing_only)
        elif isinstance(child, ast.ImportFrom):
            for target in _resolve(module, is_package, child):
                yield Import(module, target, child.lineno, lazy, typing_only)
        else:
            inner = lazy or isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef))
            yield from visit(child, inner, typing_only)

    yield from visit(tree, False, False)


def _modules() -> dict[str, Path]:
    return {module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


def _part(module: str) -> str:
    """The layered part a module belongs to (the longest prefix in `LAYERS`)."""
    best = ""
    for name in LAYERS:
        if (module == name or module.startswith(name + ".")) and len(name) > len(best):
            best = name
    return best


def layer_violations(modules: dict[str, Path]) -> list[str]:
    found = []
    for module, path in modules.items():
        source = _part(module)
        for imp in imports_of(path):
            if imp.typing_only or imp.target not in modules or imp.target == "knouds":
                continue  # (the package itself is loaded before any of its modules)
            target = _part(imp.target)
            if LAYERS[target] <= LAYERS[source] or target == source:
                continue
            if imp.lazy and (source, target) in LAZY_UPWARDS:
                continue
            found.append(f"{path.relative_to(ROOT)}:{imp.line}: {module} -> {imp.target}")
    return found


def core_violations(modules: dict[str, Path]) -> list[str]:
    found = []
    for module, path in modules.items():
        if _part(module) != "knouds._core":
            continue
        for imp in imports_of(path):
            if imp.typing_only or (imp.target.startswith("knouds") and imp.target not in modules):
                continue
            if any(imp.target == bad or imp.target.startswith(bad + ".") for bad in CORE_FORBIDDEN):
                found.append(f"{path.relative_to(ROOT)}:{imp.line}: {module} -> {imp.target}")
    return found


def cycles(modules: dict[str, Path]) -> list[list[str]]:
    """Import cycles through imports run when a module is loaded (not lazy, not typing-only)."""
    graph: dict[str, set[str]] = {name: set() for name in modules}
    for module, path in modules.items():
        for imp in imports_of(path):
            if imp.lazy or imp.typing_only or imp.target not in modules or imp.target == module:
                continue
            if module.startswith(imp.target + "."):
                continue  # a submodule importing its own package's __init__ is loaded after it
            graph[module].add(imp.target)
    found: list[list[str]] = []
    state: dict[str, int] = {}
    stack: list[str] = []

    def walk(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph[node]):
            if state.get(nxt) == 1:
                found.append([*stack[stack.index(nxt) :], nxt])
            elif nxt not in state:
                walk(nxt)
        stack.pop()
        state[node] = 2

    for name in sorted(graph):
        if name not in state:
            walk(name)
    return found


def test_layers_import_downwards_only() -> None:
    assert layer_violations(_modules()) == []


def test_the_core_does_no_io() -> None:
    assert core_violations(_modules()) == []


def test_no_import_cycles() -> None:
    assert cycles(_modules()) == []


def test_every_module_has_a_layer() -> None:
    assert [name for name in _modules() if not _part(name)] == []


def test_the_data_models_load_no_io_module() -> None:
    code = (
        "import sys, knouds.models, knouds._exceptions, knouds._types\n"
        f"print(sorted(m for m in {IO_MODULES!r} if m in sys.modules))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT
    )
    assert done.stdout.strip() == "[]"


def test_generated_files_are_whole_and_marked() -> None:
    sync = sorted((PACKAGE / "_sync").rglob("*.py"))
    assert sync
    for path in sync:
        source = PACKAGE / "_async" / path.relative_to(PACKAGE / "_sync")
        assert source.exists(), f"{path} has no async source"
        first = path.read_text(encoding="utf-8").splitlines()[0]
        assert first.startswith("# Generated from knouds/_async/"), path
    for path in sorted((PACKAGE / "_async").rglob("*.py")):
        text = path.read_text(encoding="utf-8")
        assert "# unasync: sync" not in text, path
        assert (PACKAGE / "_sync" / path.relative_to(PACKAGE / "_async")).exists(), path


def test_no_module_grows_past_one_readers_reach() -> None:
    long = {}
    for path in sorted(PACKAGE.rglob("*.py")):
        name = str(path.relative_to(ROOT))
        lines = len(path.read_text(encoding="utf-8").splitlines())
        if lines > MAX_LINES and name not in LONG_MODULES:
            long[name] = lines
    assert long == {}


# The checks themselves, on planted mistakes: each must catch its own.


def _plant(tmp_path: Path, files: dict[str, str]) -> dict[str, Path]:
    for name, text in files.items():
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return {module_name(path): path for path in sorted((tmp_path / "knouds").rglob("*.py"))}


@pytest.fixture
def planted_root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setattr(sys.modules[__name__], "ROOT", tmp_path)
    return tmp_path


def test_a_planted_cycle_is_caught(planted_root: Path) -> None:
    modules = _plant(
        planted_root,
        {
            "knouds/__init__.py": "",
            "knouds/_core/__init__.py": "",
            "knouds/_core/a.py": "from .b import x\n",
            "knouds/_core/b.py": "from .a import y\n",
        },
    )
    assert cycles(modules) == [["knouds._core.a", "knouds._core.b", "knouds._core.a"]]


def test_a_planted_core_to_shell_import_is_caught(planted_root: Path) -> None:
    modules = _plant(
        planted_root,
        {
            "knouds/__init__.py": "",
            "knouds/_core/__init__.py": "",
            "knouds/_core/a.py": "import threading\nfrom .._async.client import AsyncClient\n",
            "knouds/_async/__init__.py": "",
            "knouds/_async/client.py": "AsyncClient = 1\n",
        },
    )
    assert core_violations(modules) == [
        "knouds/_core/a.py:1: knouds._core.a -> threading",
        "knouds/_core/a.py:2: knouds._core.a -> knouds._async.client",
    ]
    assert layer_violations(modules) == [
        "knouds/_core/a.py:2: knouds._core.a -> knouds._async.client",
    ]
