"""Reading the ``knouds`` command's input files: UTF-8 text, and JSON-lines batches.

Every way in (a file, stdin, ``--inputs-json``) reads bytes and decodes them the same way, so a
byte that is not UTF-8 gets the same answer wherever it comes from::

    inputs.jsonl:3: not UTF-8 (byte 0xe9 at column 4); save the file as UTF-8

Only the standard library is imported here (the command's start-up stays light).
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, TextIO

__all__ = [
    "InputFileError",
    "UsageError",
    "decode_utf8",
    "read_jsonl",
    "read_text",
    "source_name",
]

_BOM = "\ufeff"


class UsageError(Exception):
    """A mistake on the command line or in the files it names (exit status 2)."""


class InputFileError(UsageError):
    """An input file that cannot be read or is not what the command expects (exit status 2)."""


def source_name(path: str) -> str:
    """How messages name an input: the path, or ``<stdin>`` for ``-``."""
    return "<stdin>" if path == "-" else path


def decode_utf8(data: bytes, name: str) -> str:
    """``data`` as text (a leading byte-order mark dropped).

    Raises:
        InputFileError: a byte that is not UTF-8, named by line and column (both from 1; the
            column counts bytes).
    """
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line_start = data.rfind(b"\n", 0, exc.start) + 1
        line = data.count(b"\n", 0, exc.start) + 1
        column = exc.start - line_start + 1
        raise InputFileError(
            f"{name}:{line}: not UTF-8 (byte 0x{data[exc.start]:02x} at column {column}); "
            "save the file as UTF-8"
        ) from None
    return text[1:] if text.startswith(_BOM) else text


def _stdin_bytes(stdin: TextIO) -> bytes:
    buffer = getattr(stdin, "buffer", None)
    if buffer is not None:
        data = buffer.read()
        if isinstance(data, bytes):
            return data
    # A text stream without bytes underneath (a test's StringIO): undo the surrogate escapes
    # Python uses for undecodable bytes, so they are reported like any other.
    return stdin.read().encode("utf-8", "surrogateescape")


def read_text(path: str, stdin: TextIO | None = None, *, what: str = "") -> str:
    """The UTF-8 text of the file ``path`` (``-`` reads stdin).

    Args:
        path: a file path, or ``-``.
        stdin: the stream ``-`` reads (default: ``sys.stdin``).
        what: how to name the input when it cannot be read (``--inputs-json``).

    Raises:
        InputFileError: the file cannot be read, or is not UTF-8.
    """
    name = source_name(path)
    try:
        data = _stdin_bytes(stdin or sys.stdin) if path == "-" else Path(path).read_bytes()
    except OSError as exc:
        label = f"{what} {path}" if what else path
        raise InputFileError(f"cannot read {label}: {exc.strerror or exc}") from exc
    except UnicodeEncodeError:  # a lone surrogate that no byte produced
        raise InputFileError(f"{name}: not UTF-8; save the file as UTF-8") from None
    return decode_utf8(data, name)


def read_jsonl(path: str, stdin: TextIO | None = None) -> list[dict[str, Any]]:
    """The inputs of a JSON-lines file (``-`` reads stdin): one JSON object per non-blank line.

    Raises:
        InputFileError: an unreadable file, a byte that is not UTF-8, or a line that is not a
            JSON object.
    """
    name = source_name(path)
    text = read_text(path, stdin)
    inputs: list[dict[str, Any]] = []
    # Lines end at "\n" only: JSON strings may hold U+2028 and other characters that
    # str.splitlines() would also split at.
    for number, line in enumerate(text.split("\n"), start=1):
        if not line.strip():
            continue
        try:
            value = json.loads(line)
        except ValueError as exc:
            raise InputFileError(f"{name}:{number}: not valid JSON: {exc}") from exc
        if not isinstance(value, dict):
            raise InputFileError(f"{name}:{number}: each line must be a JSON object of inputs")
        inputs.append(value)
    return inputs
