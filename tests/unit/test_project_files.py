"""The files around the code: licence, changelog, contributing guide, pinned tool versions."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10: tomli, from the test extra
    tomllib = pytest.importorskip("tomli")

ROOT = Path(__file__).resolve().parents[2]
PYPROJECT = (ROOT / "pyproject.toml").read_text(encoding="utf-8")


def _extra(name: str) -> list[str]:
    """The requirements of one optional-dependency group, as written in pyproject.toml."""
    project = tomllib.loads(PYPROJECT)["project"]
    requirements: list[str] = project["optional-dependencies"][name]
    return requirements


def _name(requirement: str) -> str:
    return re.split(r"[\[=<>~!; ]", requirement, maxsplit=1)[0].lower().replace("_", "-")


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
    pins = {_name(spec): spec for spec in [*_extra("lint"), *_extra("test")]}
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


def test_the_dev_extra_is_every_contributor_extra() -> None:
    # `pip install -e ".[dev]"` (the README's test command, and CI) installs all the others.
    assert _extra("dev") == ["knouds[test,lint,docs,mutation]"]


def test_the_test_extra_covers_what_the_tests_import() -> None:
    # `pip install -e ".[test]" && pytest` must run the whole suite: every third-party module a
    # test or an example (the tests run them) imports comes from a dependency of the package, from
    # the test extra, or from a dependency of one of those.
    import ast
    from importlib import metadata

    project = tomllib.loads(PYPROJECT)["project"]
    direct = {_name(r) for r in [*project["dependencies"], *_extra("test")]}
    allowed = set(direct)
    for name in direct:
        try:
            requirements = metadata.requires(name) or []
        except metadata.PackageNotFoundError:  # left out by its marker on this Python
            continue
        for requirement in requirements:
            if "extra ==" not in requirement:
                allowed.add(_name(requirement))
    providers = metadata.packages_distributions()
    missing: dict[str, str] = {}
    for path in [*ROOT.glob("tests/**/*.py"), *ROOT.glob("examples/*.py")]:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                modules = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                modules = [node.module]
            else:
                continue
            for module in modules:
                top = module.split(".")[0]
                if top in sys.stdlib_module_names or top in ("knouds", "tests", "tomli"):
                    continue
                if (path.parent / f"{top}.py").exists():  # a module beside it (examples)
                    continue
                dists = {_name(d) for d in providers.get(top, [top])}
                if not dists & allowed:
                    missing[top] = str(path.relative_to(ROOT))
    assert not missing, f"not installed by the test extra: {missing}"


def test_ci_builds_the_docs_strictly_with_warnings_shown() -> None:
    # `--quiet` raises the log level above WARNING, so `--strict` then has nothing to count.
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8").splitlines()
    builds = [line.strip() for line in ci if line.strip().startswith("mkdocs build")]
    assert builds, "CI does not build the docs"
    for line in builds:
        assert "--strict" in line.split()
        assert not {"--quiet", "-q"} & set(line.split()), line
