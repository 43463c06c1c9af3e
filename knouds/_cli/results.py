"""Where ``knouds batch`` writes its result lines, as each run ends.

- ``--out FILE`` (a regular file, new or existing): each line is appended to ``FILE.partial`` as
  its run ends (completion order, flushed at once), so an interruption or a crash keeps every
  result that was paid for. At the end, ``FILE`` is written whole in input order (beside it, then
  renamed over it: never half a file) and ``FILE.partial`` is removed. A new ``FILE`` gets the
  mode the umask gives; an existing one keeps its mode.
- stdout, or an ``--out`` that is not a regular file (``/dev/stdout``, a pipe): lines go out in
  input order, each as soon as every earlier input has ended.

Whether the output can be written is checked before anything runs (`ResultsOutput.open`).
"""

from __future__ import annotations

import contextlib
import os
import stat
import tempfile
import threading
from pathlib import Path
from typing import TextIO

from .inputs import UsageError

__all__ = ["OutputError", "ResultsOutput", "partial_path"]


class OutputError(UsageError):
    """The results cannot be written where ``--out`` says (exit status 2, nothing run)."""


def partial_path(out: str) -> Path:
    """Where the results of a batch writing to ``out`` stream while it runs."""
    target = Path(out)
    return target.with_name(target.name + ".partial")


def _umask() -> int:
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0o022)  # no /proc (macOS): read it by setting it, then put it back
    os.umask(mask)
    return mask


class ResultsOutput:
    """The result lines of one batch: streamed as runs end, complete in input order at the end.

    Thread-safe: `add` is called by the batch's workers.

    Args:
        out: the ``--out`` path, or ``None`` for ``stdout``.
        stdout: the stream for results when there is no ``--out``.
    """

    def __init__(self, out: str | None, stdout: TextIO) -> None:
        self._out = out
        self._stream: TextIO | None = None if out is not None else stdout
        self._owns_stream = False
        self._partial: TextIO | None = None
        self._mode = 0o644
        self._lines: dict[int, str] = {}
        self._next = 0  # the first index not yet written to an ordered stream
        self._finished = False
        self._lock = threading.Lock()

    @property
    def streams_to_file(self) -> bool:
        """Whether lines stream to ``FILE.partial`` (``--out`` names a regular file)."""
        return self._partial is not None

    def open(self) -> None:
        """Make sure the results can be written, before anything is paid for.

        Raises:
            OutputError: ``--out`` is a directory, is in a directory that cannot be created or
                written, or is a file that cannot be written; says why.
        """
        if self._out is None:
            return
        target = Path(self._out)
        where = f"cannot write the results to --out {self._out}"
        try:
            info = target.stat()
        except FileNotFoundError:
            info = None
        except OSError as exc:  # a parent that is a file, a loop of links, no permission
            raise OutputError(f"{where}: {exc.strerror or exc}") from exc
        if info is not None and stat.S_ISDIR(info.st_mode):
            raise OutputError(f"{where}: it is a directory")
        if info is not None and not stat.S_ISREG(info.st_mode):
            # A device or a pipe (/dev/stdout, a FIFO): written in order as runs end.
            try:
                self._stream = open(target, "w", encoding="utf-8")  # noqa: SIM115 - kept open
            except OSError as exc:
                raise OutputError(f"{where}: {exc.strerror or exc}") from exc
            self._owns_stream = True
            return
        if info is not None and not os.access(target, os.W_OK):
            raise OutputError(f"{where}: the file is read-only")
        self._mode = stat.S_IMODE(info.st_mode) if info is not None else 0o666 & ~_umask()
        partial = partial_path(self._out)
        try:
            target.parent.mkdir(parents=True, exist_ok=True)
            fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, self._mode)
        except OSError as exc:
            raise OutputError(f"{where}: {exc.strerror or exc}") from exc
        with contextlib.suppress(OSError):  # a file system without modes: keep what it gave
            os.fchmod(fd, self._mode)
        self._partial = os.fdopen(fd, "w", encoding="utf-8", newline="\n")

    def add(self, index: int, text: str) -> None:
        """Record the result line of input ``index`` (one JSON object, no newline) and write
        it out at once: appended to the ``.partial`` file, or to the ordered stream."""
        with self._lock:
            if self._finished:  # a run abandoned by a second interruption ended meanwhile
                return
            self._lines[index] = text
            if self._partial is not None:
                self._partial.write(text + "\n")
                self._partial.flush()
            elif self._stream is not None:
                self._flush_ordered(everything=False)

    def _flush_ordered(self, *, everything: bool) -> None:
        assert self._stream is not None
        wrote = False
        if everything:
            for index in sorted(i for i in self._lines if i >= self._next):
                self._stream.write(self._lines[index] + "\n")
                self._next = index + 1
                wrote = True
        else:
            while self._next in self._lines:
                self._stream.write(self._lines[self._next] + "\n")
                self._next += 1
                wrote = True
        if wrote:
            self._stream.flush()

    @property
    def written(self) -> int:
        """How many result lines were recorded."""
        with self._lock:
            return len(self._lines)

    def finish(self) -> None:
        """Write every recorded line, in input order: the rest of an ordered stream, or
        ``--out FILE`` whole (then its ``.partial`` file is removed). Lines added later are
        dropped."""
        with self._lock:
            self._finished = True
            if self._stream is not None:
                self._flush_ordered(everything=True)
                if self._owns_stream:
                    self._stream.close()
                return
            if self._partial is None or self._out is None:
                return
            text = "".join(self._lines[index] + "\n" for index in sorted(self._lines))
            target = Path(self._out)
            # Beside the target, then renamed over it: never half a results file.
            fd, temporary = tempfile.mkstemp(dir=target.parent, prefix=f".{target.name}.")
            try:
                with os.fdopen(fd, "w", encoding="utf-8", newline="\n") as handle:
                    handle.write(text)
                    with contextlib.suppress(OSError):
                        os.fchmod(handle.fileno(), self._mode)
                os.replace(temporary, target)
            except BaseException:
                Path(temporary).unlink(missing_ok=True)
                raise
            self._partial.close()
            self._partial = None
            partial_path(self._out).unlink(missing_ok=True)

    def discard(self) -> None:
        """Give up before anything ran: remove the ``.partial`` file this output created."""
        with self._lock:
            if self._partial is not None and self._out is not None and not self._lines:
                self._partial.close()
                self._partial = None
                partial_path(self._out).unlink(missing_ok=True)
            if self._owns_stream and self._stream is not None:
                self._stream.close()
                self._stream = None
