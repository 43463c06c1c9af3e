"""Every curl example of ``docs/http-api.md`` gets the answer printed after it, from a
``knouds emulator`` subprocess.

The page alternates ```bash blocks (one ``curl`` command) and ```http blocks (the answer: status
line, headers, blank line, JSON body). The curl command is parsed (``-X``, ``-H``, ``-d``, the
URL) and sent with httpx, the documentation's host swapped for the emulator's and
``$KNOUDS_API_KEY`` / ``$EXECUTION_ID`` filled in, so the test needs no curl binary. An answer
matches when the status is the same, each header shown is present (``...``: any value), and the
JSON shown is contained in the body: objects by the keys shown, lists item by item in any order,
``"..."`` standing for any value.
"""

from __future__ import annotations

import itertools
import json
import os
import re
import shlex
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest

from tests.docs.test_docs_code import parse_blocks

PAGE = Path(__file__).resolve().parents[2] / "docs" / "http-api.md"
DOCS_HOST = "https://knouds.ai"
ANY = "..."


@dataclass(frozen=True)
class Example:
    """One curl command of the page and the answer documented after it."""

    line: int
    command: str
    status: int
    headers: dict[str, str]
    body: object


def examples() -> list[Example]:
    blocks = [b for b in parse_blocks(PAGE) if b.language in ("bash", "http")]
    found = []
    for block, answer in itertools.pairwise(blocks):
        if block.language != "bash" or answer.language != "http":
            continue
        head, _, body = answer.code.partition("\n\n")
        status_line, *header_lines = head.splitlines()
        headers = dict(line.split(": ", 1) for line in header_lines)
        status = int(status_line.split()[1])
        found.append(Example(block.line, block.code, status, headers, json.loads(body)))
    return found


def to_request(command: str, base_url: str, variables: dict[str, str]) -> httpx.Request:
    """The request a one-line-or-continued ``curl`` command sends."""
    text = command.replace("\\\n", " ")
    for name, value in variables.items():
        text = text.replace(f"${name}", value)
    words = shlex.split(text)
    assert words[0] == "curl", command
    method, headers, data, url = "GET", {}, None, None
    i = 1
    while i < len(words):
        word = words[i]
        if word == "-X":
            method, i = words[i + 1], i + 2
        elif word == "-H":
            name, value = words[i + 1].split(": ", 1)
            headers[name], i = value, i + 2
        elif word == "-d":
            data, i = words[i + 1].encode(), i + 2
            method = "POST" if method == "GET" else method
        else:
            assert url is None, f"a second URL: {word!r}"
            assert word.startswith(DOCS_HOST), f"unexpected curl word {word!r}"
            url, i = base_url + word[len(DOCS_HOST) :], i + 1
    assert url is not None, command
    return httpx.Request(method, url, headers=headers, content=data)


def contains(actual: object, expected: object) -> bool:
    if expected == ANY:
        return True
    if isinstance(expected, dict):
        return isinstance(actual, dict) and all(
            key in actual and contains(actual[key], value) for key, value in expected.items()
        )
    if isinstance(expected, list):
        if not isinstance(actual, list) or len(actual) < len(expected):
            return False
        left = list(actual)
        for item in expected:
            match = next((a for a in left if contains(a, item)), None)
            if match is None:
                return False
            left.remove(match)
        return True
    return actual == expected


@pytest.fixture(scope="module")
def emulator() -> Iterator[tuple[str, str]]:
    """``knouds emulator`` in a subprocess: its base URL and key, read from what it prints."""
    process = subprocess.Popen(
        [sys.executable, "-m", "knouds", "emulator", "--port", "0", "--execution-delay", "600"],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
    )
    try:
        printed: dict[str, str] = {}
        assert process.stdout is not None
        for line in process.stdout:
            found = re.match(r"export (KNOUDS_\w+)=(\S+)", line)
            if found:
                printed[found[1]] = found[2]
            if len(printed) == 2:
                break
        yield printed["KNOUDS_BASE_URL"], printed["KNOUDS_API_KEY"]
    finally:
        process.terminate()
        process.wait(timeout=10)
        if process.stdout is not None:
            process.stdout.close()


def test_the_page_has_examples_of_every_route() -> None:
    commands = " ".join(e.command for e in examples())
    for route in (
        "/api/whoami",
        "/api/workflows ",
        "/api/workflows/my-pipeline/run",
        "/schema",
        "/public-schema",
        "-X PUT",
        "-X DELETE",
        "/api/models/gpt-image-2/run",
        "?async=true",
        "/api/executions/$EXECUTION_ID ",
        "/cancel",
    ):
        assert route in commands.replace("\\\n", " ") + " ", route


def test_every_curl_example_gets_the_documented_answer(emulator: tuple[str, str]) -> None:
    base_url, key = emulator
    variables = {"KNOUDS_API_KEY": key}
    with httpx.Client(timeout=10) as http:
        for example in examples():  # in page order: later examples use earlier answers
            request = to_request(example.command, base_url, variables)
            response = http.send(request)
            where = f"docs/http-api.md:{example.line}"
            assert response.status_code == example.status, (where, response.text)
            for name, value in example.headers.items():
                assert name in response.headers, (where, name)
                assert value == ANY or response.headers[name] == value, (where, name)
            body = response.json()
            assert contains(body, example.body), (where, body)
            if isinstance(body, dict) and isinstance(body.get("executionId"), str):
                variables["EXECUTION_ID"] = body["executionId"]
