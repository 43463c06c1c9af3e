"""Output of the ``knouds`` command: results for people or as JSON, and the elapsed-time ticker."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

if TYPE_CHECKING:
    from ..models import Execution, RunResult

__all__ = ["Elapsed", "credits", "print_result", "rate_limit_dict", "save_media"]


class Elapsed:
    """Shows ``running NAME… 3.2s`` on stderr while a call is in flight, if it is a terminal."""

    def __init__(self, label: str, stream: TextIO) -> None:
        self._label = label
        self._stream = stream
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def _tick(self) -> None:
        started = time.monotonic()
        while not self._stop.wait(0.1):
            elapsed = time.monotonic() - started
            self._stream.write(f"\r  {self._label}… {elapsed:.1f}s")
            self._stream.flush()

    def __enter__(self) -> Elapsed:
        isatty = getattr(self._stream, "isatty", None)
        if isatty is not None and isatty():
            self._thread = threading.Thread(target=self._tick, daemon=True)
            self._thread.start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        if self._thread is not None:
            self._stop.set()
            self._thread.join()
            self._stream.write("\r" + " " * (len(self._label) + 16) + "\r")
            self._stream.flush()


def credits(amount: float | None) -> str:
    """``"1 credit"``, ``"4 credits"``, or ``"? credits"`` when the amount is unknown."""
    if amount is None:
        return "? credits"
    return f"{amount} credit" + ("" if amount == 1 else "s")


def rate_limit_dict(result: RunResult | Execution) -> dict[str, object] | None:
    limit = result.rate_limit
    if limit is None:
        return None
    return {"limit": limit.limit, "remaining": limit.remaining, "reset": limit.reset}


def save_media(result: RunResult, directory: str | None) -> dict[str, str]:
    if directory is None:
        return {}
    target = Path(directory)
    target.mkdir(parents=True, exist_ok=True)
    return {media.url: str(media.save(target)) for media in result.media}


def print_result(result: RunResult, saved: dict[str, str], as_json: bool, out: TextIO) -> None:
    if as_json:
        data: dict[str, Any] = result.model_dump(mode="json", by_alias=True)
        data["rate_limit"] = rate_limit_dict(result)
        if saved:
            data["saved"] = list(saved.values())
        out.write(json.dumps(data, indent=2) + "\n")
        return
    for media in result.media:
        where = f"  -> {saved[media.url]}" if media.url in saved else ""
        out.write(f"{media.kind:<6} {media.url}{where}\n")
    text = result.text
    if text is not None:
        out.write(f"text:  {text}\n")
    out.write(f"cost:  {credits(result.cost)}\n")
    out.write(f"time:  {result.ms if result.ms is not None else '?'} ms\n")
    limit = result.rate_limit
    if limit is not None:
        out.write(f"rate limit: {limit.remaining}/{limit.limit} left in this window\n")
