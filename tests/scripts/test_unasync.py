"""``scripts/unasync.py``: the sync shells (``knouds/_sync/``) are generated from the async ones
(``knouds/_async/``), whole files, and CI notices a sync file edited by hand. (Outside
``tests/unit``: mutation testing runs the unit tests against rewritten copies of the shells,
which the check would rightly refuse.)"""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "unasync.py"


def _load() -> ModuleType:
    spec = importlib.util.spec_from_file_location("unasync_script", SCRIPT)
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


unasync = _load()


def _run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(SCRIPT), *args], capture_output=True, text=True, check=False
    )


def _copy_of_the_shells(tmp_path: Path) -> Path:
    for name in ("knouds/_async", "knouds/_sync"):
        shutil.copytree(ROOT / name, tmp_path / name, ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")  # ruff's settings
    return tmp_path


def test_the_committed_sync_code_is_what_the_async_code_generates() -> None:
    done = _run("--check")
    assert done.returncode == 0, done.stdout + done.stderr


def test_ci_runs_the_check() -> None:
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()
    assert "python scripts/unasync.py --check" in ci


def test_every_async_module_has_a_generated_twin_marked_on_its_first_line() -> None:
    sources = sorted((ROOT / "knouds" / "_async").rglob("*.py"))
    assert {p.relative_to(ROOT / "knouds" / "_async") for p in sources} == {
        p.relative_to(ROOT / "knouds" / "_sync") for p in (ROOT / "knouds" / "_sync").rglob("*.py")
    }
    for source in sources:
        name = source.relative_to(ROOT).as_posix()
        twin = ROOT / unasync.sync_name(name)
        first = twin.read_text(encoding="utf-8").splitlines()[0]
        assert first == f"# Generated from {name} by scripts/unasync.py:"


def test_a_whole_file_is_generated(tmp_path: Path) -> None:
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    source = tmp_path / "knouds" / "_async" / "example.py"
    source.parent.mkdir(parents=True)
    source.write_text(
        '"""`AsyncClient` in one line."""\n'
        "\n"
        "import asyncio\n"
        "from collections.abc import AsyncGenerator, Awaitable, Callable\n"
        "\n"
        "from .._async.client import AsyncClient\n"
        "from ..models import RunResult\n"
        "\n"
        "\n"
        "async def arun(client: AsyncClient, run: Callable[[], Awaitable[RunResult]]) -> None:\n"
        "    await asyncio.sleep(1)\n"
        "    client.bind()  # unasync: remove\n"
        "    await run()\n"
        "    await client.aclose()\n"
        "\n"
        "\n"
        "async def chunks() -> AsyncGenerator[bytes, None]:\n"
        '    yield b""\n',
        encoding="utf-8",
    )
    generated = unasync.generate(
        source.read_text(encoding="utf-8"), "knouds/_async/example.py", root=tmp_path
    )
    assert generated == (
        "# Generated from knouds/_async/example.py by scripts/unasync.py:\n"
        "# edit that file, not this one.\n"
        '"""`Client` in one line."""\n'
        "\n"
        "import time\n"
        "from collections.abc import Callable, Generator\n"
        "\n"
        "from .._sync.client import Client\n"
        "from ..models import RunResult\n"
        "\n"
        "\n"
        "def run(client: Client, run: Callable[[], RunResult]) -> None:\n"
        "    time.sleep(1)\n"
        "    run()\n"
        "    client.close()\n"
        "\n"
        "\n"
        "def chunks() -> Generator[bytes, None]:\n"
        '    yield b""\n'
    )


def test_a_hand_edit_to_generated_code_fails_the_check_and_regenerating_undoes_it(
    tmp_path: Path,
) -> None:
    root = _copy_of_the_shells(tmp_path)
    models = root / "knouds" / "_sync" / "resources" / "models.py"
    original = models.read_text(encoding="utf-8")
    line = '        """Run a model and wait for its output.\n'
    assert original.count(line) == 1
    models.write_text(original.replace(line, '        """Run a model.\n'), "utf-8")

    done = _run("--check", "--root", str(root))
    assert done.returncode == 1
    assert '-        """Run a model.\n' in done.stdout
    assert '+        """Run a model and wait for its output.\n' in done.stdout
    assert "knouds/_sync/resources/models.py differs from what its async source" in done.stdout

    assert _run("--root", str(root)).returncode == 0
    assert models.read_text(encoding="utf-8") == original
    assert _run("--check", "--root", str(root)).returncode == 0


def test_an_async_edit_reaches_the_sync_code_only_when_regenerated(tmp_path: Path) -> None:
    root = _copy_of_the_shells(tmp_path)
    source = root / "knouds" / "_async" / "resources" / "executions.py"
    twin = root / "knouds" / "_sync" / "resources" / "executions.py"
    text = source.read_text(encoding="utf-8")
    assert text.count("timeout: float | None = 600.0,") == 1
    source.write_text(text.replace("= 600.0,", "= 900.0,"), encoding="utf-8")

    assert _run("--check", "--root", str(root)).returncode == 1
    assert "= 900.0," not in twin.read_text(encoding="utf-8")
    assert _run("--root", str(root)).returncode == 0
    assert "= 900.0," in twin.read_text(encoding="utf-8")
    assert _run("--check", "--root", str(root)).returncode == 0


def test_a_sync_file_without_an_async_source_fails_the_check(tmp_path: Path) -> None:
    root = _copy_of_the_shells(tmp_path)
    (root / "knouds" / "_sync" / "extra.py").write_text('"""Written by hand."""\n', "utf-8")

    done = _run("--check", "--root", str(root))
    assert done.returncode == 1
    assert "knouds/_sync/extra.py: no async source" in done.stdout


def test_substitutions_replace_whole_words_only() -> None:
    lines = [
        "async def run(self, client: AsyncClient) -> AsyncModels:\n",
        "    await self._client.aclose()  # AsyncNotSupportedError, asynchronously\n",
        "    async for chunk in response.aiter_bytes(): ...\n",
        "    close = aclose  # unasync: remove\n",
        "    return await command.arun(), self.aclosed, _ASYNC, run_batch_async\n",
        "from knouds._async.batch import x  # knouds._asynchronous\n",
    ]
    assert unasync.unasync_lines(lines) == [
        "def run(self, client: Client) -> Models:\n",
        "    self._client.close()  # AsyncNotSupportedError, asynchronously\n",
        "    for chunk in response.iter_bytes(): ...\n",
        "    return command.run(), self.aclosed, _ASYNC, run_batch\n",
        "from knouds._sync.batch import x  # knouds._asynchronous\n",
    ]
