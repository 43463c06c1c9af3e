"""``scripts/unasync.py``: the sync shells are generated from the async ones, and CI notices a
sync file edited by hand. (Outside ``tests/unit``: mutation testing runs the unit tests against
rewritten copies of the shells, which the check would rightly refuse.)"""

from __future__ import annotations

import importlib.util
import shutil
import subprocess
import sys
from pathlib import Path
from types import ModuleType

import pytest

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
    for name in unasync.FILES:
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / name, tmp_path / name)
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")  # ruff's settings
    return tmp_path


def test_the_committed_sync_code_is_what_the_async_code_generates() -> None:
    done = _run("--check")
    assert done.returncode == 0, done.stdout + done.stderr


def test_ci_runs_the_check() -> None:
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()
    assert "python scripts/unasync.py --check" in ci


def test_a_hand_edit_to_generated_code_fails_the_check_and_regenerating_undoes_it(
    tmp_path: Path,
) -> None:
    root = _copy_of_the_shells(tmp_path)
    models = root / "knouds" / "resources" / "models.py"
    original = models.read_text(encoding="utf-8")
    sync_line = '        """Run a model and wait for its output.\n'
    assert original.count(sync_line) == 2  # once generated, once in the async source
    models.write_text(original.replace(sync_line, '        """Run a model.\n', 1), "utf-8")

    done = _run("--check", "--root", str(root))
    assert done.returncode == 1
    assert '-        """Run a model.\n' in done.stdout
    assert '+        """Run a model and wait for its output.\n' in done.stdout
    assert "the sync code of knouds/resources/models.py differs" in done.stdout

    assert _run("--root", str(root)).returncode == 0
    assert models.read_text(encoding="utf-8") == original
    assert _run("--check", "--root", str(root)).returncode == 0


def test_an_async_edit_reaches_the_sync_code_only_when_regenerated(tmp_path: Path) -> None:
    root = _copy_of_the_shells(tmp_path)
    executions = root / "knouds" / "resources" / "executions.py"
    source = executions.read_text(encoding="utf-8")
    before, default, after = source.rpartition("timeout: float | None = 600.0,")
    assert before.index("class Executions:") < before.index("class AsyncExecutions:")
    edited = before + default.replace("600.0", "900.0") + after  # the async source only
    executions.write_text(edited, encoding="utf-8")

    assert _run("--check", "--root", str(root)).returncode == 1
    assert _run("--root", str(root)).returncode == 0
    assert executions.read_text(encoding="utf-8").count("= 900.0,") == 2


def test_substitutions_replace_whole_words_only() -> None:
    lines = [
        "async def run(self, client: AsyncClient) -> AsyncModels:\n",
        "    await self._client.aclose()  # AsyncNotSupportedError, asynchronously\n",
        "    async for chunk in response.aiter_bytes(): ...\n",
        "    close = aclose  # unasync: remove\n",
        "    return await command.arun(), self.aclosed, _ASYNC, run_batch_async\n",
    ]
    assert unasync.unasync_lines(lines) == [
        "def run(self, client: Client) -> Models:\n",
        "    self._client.close()  # AsyncNotSupportedError, asynchronously\n",
        "    for chunk in response.iter_bytes(): ...\n",
        "    return command.run(), self.aclosed, _ASYNC, run_batch\n",
    ]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("# unasync: async\nx = 1\n", "is not closed"),
        ("# unasync: end\n", "without a region"),
        ("# unasync: async\n# unasync: sync\n# unasync: end\n", "inside another"),
        ("# unasync: async\nx = 1\n# unasync: end\n", "as many sync regions"),
    ],
)
def test_malformed_markers_are_refused(text: str, message: str) -> None:
    with pytest.raises(SystemExit, match=message):
        unasync.generate(text, "example.py")
