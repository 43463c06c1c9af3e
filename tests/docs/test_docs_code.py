"""Every Python code block of the documentation runs, against a fresh local emulator.

Each page's ```python blocks run in order in one namespace, so a later block can use the names an
earlier one defined, the way a reader (or a notebook) goes through a page. README.md is read
differently (a block is copied on its own), so each of its blocks runs in a fresh namespace.
``KNOUDS_API_KEY`` and ``KNOUDS_BASE_URL`` point at a new :class:`knouds.testing.Emulator` per
page, and the working directory is a temporary one, so saved files land nowhere that matters.

Top-level ``await`` is allowed (as in a notebook): such a block is compiled with
``ast.PyCF_ALLOW_TOP_LEVEL_AWAIT`` and its coroutine is awaited by a wrapper run on one event loop
per page (``PageLoop``), so an async client opened in one block can still be used in the next.

A block that cannot run (a web-framework handler, say) carries the line
``<!-- docs-test: skip (reason) -->`` right before its fence; there must be few of them.
Shell blocks are never executed.
"""

from __future__ import annotations

import ast
import asyncio
import inspect
import logging
import re
import textwrap
from collections.abc import Coroutine, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest

import knouds
from knouds.testing import Emulator

ROOT = Path(__file__).resolve().parents[2]
DOCS = ROOT / "docs"
README = ROOT / "README.md"
PAGES = [README, *sorted(DOCS.glob("*.md"))]
MAX_SKIPPED_BLOCKS = 3
T = TypeVar("T")

_FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})\s*(?P<info>[^\n`]*)$")
_SKIP = re.compile(r"^\s*<!--\s*docs-test:\s*skip\s*\((?P<reason>[^)]+)\)\s*-->\s*$")


@dataclass(frozen=True)
class Block:
    """One fenced code block of a page."""

    page: Path
    line: int  # 1-based line of the opening fence
    language: str
    code: str
    skip_reason: str | None

    @property
    def where(self) -> str:
        return f"{self.page.relative_to(ROOT)}:{self.line}"


def parse_blocks(page: Path) -> list[Block]:
    """The fenced code blocks of a Markdown page, in order (indented fences included)."""
    lines = page.read_text(encoding="utf-8").splitlines()
    blocks: list[Block] = []
    i = 0
    while i < len(lines):
        match = _FENCE.match(lines[i])
        if match is None:
            i += 1
            continue
        indent, fence = match["indent"], match["fence"]
        language = (
            match["info"].strip().split(" ")[0].split("{")[0].lower() if match["info"] else ""
        )
        previous = next((line for line in reversed(lines[:i]) if line.strip()), "")
        skip = _SKIP.match(previous)
        body: list[str] = []
        j = i + 1
        while j < len(lines) and lines[j].strip() != fence:
            body.append(lines[j][len(indent) :] if lines[j].startswith(indent) else lines[j])
            j += 1
        code = textwrap.dedent("\n".join(body)) + "\n"
        blocks.append(Block(page, i + 1, language, code, skip["reason"] if skip else None))
        i = j + 1
    return blocks


def python_blocks(page: Path) -> list[Block]:
    return [b for b in parse_blocks(page) if b.language in ("python", "py", "python3")]


class PageLoop:
    """One event loop for a page's top-level awaits, like a notebook kernel's (and like
    ``asyncio.Runner``, which Python 3.10 lacks)."""

    def __enter__(self) -> PageLoop:
        self._loop = asyncio.new_event_loop()
        return self

    def run(self, awaitable: Coroutine[Any, Any, T]) -> T:
        return self._loop.run_until_complete(awaitable)

    def __exit__(self, *exc_info: object) -> None:
        try:
            self._loop.run_until_complete(self._loop.shutdown_asyncgens())
        finally:
            self._loop.close()


def run_block(block: Block, namespace: dict[str, object], runner: PageLoop) -> None:
    """Run one block in ``namespace``; top-level ``await`` goes through ``runner``."""
    flags = ast.PyCF_ALLOW_TOP_LEVEL_AWAIT
    code = compile(block.code, block.where, "exec", flags=flags, dont_inherit=True)
    if code.co_flags & inspect.CO_COROUTINE:

        async def wrapper() -> object:
            return await eval(code, namespace)

        runner.run(wrapper())
    else:
        exec(code, namespace)


def close_clients(namespace: dict[str, object], runner: PageLoop) -> None:
    """Close the clients a page left open, as a notebook kernel's shutdown would."""
    for value in list(namespace.values()):
        if isinstance(value, knouds.Client):
            value.close()
        elif isinstance(value, knouds.AsyncClient):
            runner.run(value.aclose())


@pytest.fixture
def docs_env(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Emulator]:
    """A fresh emulator behind the environment variables, and a temporary working directory."""
    logger = logging.getLogger("knouds")
    level = logger.level
    with Emulator() as emulator:
        monkeypatch.setenv("KNOUDS_API_KEY", emulator.api_key)
        monkeypatch.setenv("KNOUDS_BASE_URL", emulator.base_url)
        monkeypatch.chdir(tmp_path)
        yield emulator
    logger.setLevel(level)  # a page may turn on the SDK's logging to show it


@pytest.mark.parametrize("page", PAGES, ids=lambda p: str(p.relative_to(ROOT)))
def test_page_code_runs(page: Path, docs_env: Emulator) -> None:
    blocks = [b for b in python_blocks(page) if b.skip_reason is None]
    namespaces: list[dict[str, object]] = []
    with PageLoop() as runner:
        try:
            for block in blocks:
                if page == README or not namespaces:
                    namespaces.append({"__name__": "__docs__"})
                try:
                    run_block(block, namespaces[-1], runner)
                except BaseException as error:
                    raise AssertionError(
                        f"the code block at {block.where} failed: {error!r}\n{block.code}"
                    ) from error
        finally:
            for namespace in namespaces:
                close_clients(namespace, runner)


def test_docs_have_code_and_few_skips() -> None:
    blocks = [b for page in PAGES for b in python_blocks(page)]
    skipped = [b for b in blocks if b.skip_reason is not None]
    assert len(blocks) - len(skipped) >= 40, "the docs should show (and test) real code"
    assert len(skipped) <= MAX_SKIPPED_BLOCKS, [f"{b.where}: {b.skip_reason}" for b in skipped]


def test_skip_markers_sit_on_python_blocks() -> None:
    # A marker before a shell block (never executed anyway) or lost in prose hides nothing useful.
    for page in PAGES:
        text = page.read_text(encoding="utf-8").splitlines()
        markers = [n for n, line in enumerate(text) if "docs-test:" in line]
        marked = {b.line for b in python_blocks(page) if b.skip_reason is not None}
        for index in markers:
            following = next((n for n in range(index + 1, len(text)) if text[n].strip()), None)
            where = f"{page.name}:{index + 1}"
            assert following is not None, f"{where}: a docs-test marker must precede a block"
            assert following + 1 in marked, f"{where}: marker before a non-python block"


def test_parser_finds_indented_and_skipped_blocks(tmp_path: Path) -> None:
    page = tmp_path / "page.md"
    page.write_text(
        "text\n\n```python\nx = 1\n```\n\n"
        '=== "Tab"\n\n    ```python\n    y = x + 1\n    ```\n\n'
        "<!-- docs-test: skip (needs a web server) -->\n```python\nraise SystemExit\n```\n\n"
        "```bash\nrm -rf /\n```\n",
        encoding="utf-8",
    )
    blocks = parse_blocks(page)
    assert [(b.language, b.code, b.skip_reason) for b in blocks] == [
        ("python", "x = 1\n", None),
        ("python", "y = x + 1\n", None),
        ("python", "raise SystemExit\n", "needs a web server"),
        ("bash", "rm -rf /\n", None),
    ]


def test_top_level_await_shares_the_namespace() -> None:
    page = Path("page.md")
    namespace: dict[str, object] = {}
    with PageLoop() as runner:
        for code in ("import asyncio\nx = 1", "await asyncio.sleep(0)\ny = x + 1", "z = y * 2"):
            run_block(Block(ROOT / page, 1, "python", code, None), namespace, runner)
    assert namespace["z"] == 4


def _reference_objects() -> set[str]:
    text = (DOCS / "reference.md").read_text(encoding="utf-8")
    return {m.group(1) for m in re.finditer(r"^:::\s*([\w.]+)", text, flags=re.MULTILINE)}


def test_reference_covers_every_public_name() -> None:
    objects = _reference_objects()
    missing = sorted(
        name
        for name in knouds.__all__
        if f"knouds.{name}" not in objects
        and not any(f"knouds.{name}".startswith(o + ".") for o in objects)
    )
    assert not missing, f"docs/reference.md has no ::: entry for {missing}"
    for extra in ("knouds.testing.Emulator", "knouds.testing.Fault"):
        assert extra in objects


def test_changelog_page_includes_the_changelog() -> None:
    # The snippets extension includes the file at build time (check_paths makes a missing file
    # fail `mkdocs build --strict`), so the page cannot drift from CHANGELOG.md.
    page = (DOCS / "changelog.md").read_text(encoding="utf-8")
    assert page.strip() == '--8<-- "CHANGELOG.md"'
    assert (ROOT / "CHANGELOG.md").read_text(encoding="utf-8").startswith("# Changelog")


# Code blocks of these pages fit the content column of a 1280 px wide window (about 76
# characters of code); longer lines are cut off behind a sideways scroll bar. Program output
# (```text) wraps instead (docs/stylesheets/extra.css). Add a page once its blocks are narrowed.
NARROW_PAGES = ["index.md", "installation.md", "journal.md", "scaling.md", "spend.md"]
MAX_CODE_COLUMNS = 76


@pytest.mark.parametrize("name", NARROW_PAGES)
def test_code_blocks_fit_a_1280px_window(name: str) -> None:
    wide = [
        f"{block.where}: {line}"
        for block in parse_blocks(DOCS / name)
        if block.language not in ("text", "console", "mermaid")
        for line in block.code.splitlines()
        if len(line) > MAX_CODE_COLUMNS
    ]
    assert not wide, "\n".join(wide)
