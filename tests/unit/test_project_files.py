"""The files around the code: licence, changelog, contributing guide, pinned tool versions."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
PYPROJECT = (ROOT / "pyproject.toml").read_text(encoding="utf-8")


def _dev_extra() -> list[str]:
    block = re.search(r"^dev = \[\n(.*?)^\]", PYPROJECT, flags=re.MULTILINE | re.DOTALL)
    assert block is not None
    return re.findall(r'^\s*"([^"]+)",', block[1], flags=re.MULTILINE)


def test_the_license_file_matches_the_metadata() -> None:
    assert re.search(r'^license = "MIT"$', PYPROJECT, flags=re.MULTILINE)
    assert re.search(r'^license-files = \["LICENSE"\]$', PYPROJECT, flags=re.MULTILINE)
    text = (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert text.startswith("MIT License\n\nCopyright (c) ")
    assert "Permission is hereby granted, free of charge" in text


def test_the_changelog_keeps_a_changelog() -> None:
    text = (ROOT / "CHANGELOG.md").read_text(encoding="utf-8")
    assert text.startswith("# Changelog\n")
    assert "https://keepachangelog.com/" in text
    releases = re.findall(r"^## (.+)$", text, flags=re.MULTILINE)
    assert releases, "no release sections"
    assert releases[0] == "[Unreleased]"
    for release in releases[1:]:
        assert re.fullmatch(r"\[\d+\.\d+\.\d+\] - \d{4}-\d{2}-\d{2}", release), release
    kinds = set(re.findall(r"^### (.+)$", text, flags=re.MULTILINE))
    assert kinds <= {"Added", "Changed", "Deprecated", "Removed", "Fixed", "Security"}, kinds


def test_lint_and_type_tools_are_pinned() -> None:
    pins = {re.split(r"[\[=<>~!]", spec)[0]: spec for spec in _dev_extra()}
    for tool in ("ruff", "mypy", "pyright"):
        assert re.search(r"==\d+(\.\d+)+$", pins[tool]), pins[tool]
    assert pins["pyright"].startswith("pyright[nodejs]=="), "pyright must run without a system Node"


def test_contributing_shows_the_readme_commands() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    first_block = re.search(r"```bash\n(.*?)```", readme, flags=re.DOTALL)
    assert first_block is not None
    contributing = (ROOT / "CONTRIBUTING.md").read_text(encoding="utf-8")
    for line in first_block[1].splitlines():
        command = line.split("#")[0].strip()
        assert command in contributing, command
    for check in ("mypy --strict knouds tests", "pyright", ".ci/run", "benchmarks/run_all.py"):
        assert check in contributing, check


def test_ci_runs_both_type_checkers() -> None:
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()
    assert "mypy --strict knouds tests" in ci
    assert "pyright" in ci
    assert "pyright --verifytypes knouds --ignoreexternal" in ci
    assert re.search(r'^include = \["tests/typing"\]$', PYPROJECT, flags=re.MULTILINE)
