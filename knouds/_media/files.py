"""Where a download is written, and how: safe file names and atomic writes (no I/O on the
network)."""

from __future__ import annotations

import contextlib
import os
import re
import secrets
from collections.abc import Iterable, Iterator
from pathlib import Path
from types import TracebackType
from typing import IO, TYPE_CHECKING

from .._exceptions import MediaDownloadError, MediaFileExistsError, MediaSaveError

if TYPE_CHECKING:
    from typing import TypeAlias

    from ..models import Media

PathLike: TypeAlias = "str | os.PathLike[str]"

_WINDOWS_RESERVED = re.compile(r"^(con|prn|aux|nul|com\d|lpt\d)(\..*)?$", re.IGNORECASE)
# File systems limit a name to 255 *bytes* (not characters): a name of 200 letters outside
# ASCII takes up to 800. Names are cut to this many UTF-8 bytes, leaving room for the "-1"
# that tells equal names apart and for the temporary file's hidden ".<name>.<hex>.part".
_MAX_NAME_BYTES = 200


def fit_name(name: str, max_bytes: int = _MAX_NAME_BYTES) -> str:
    """``name`` cut to at most ``max_bytes`` UTF-8 bytes at a character boundary, keeping a
    short extension (``.png``) intact."""
    if len(name.encode("utf-8", "replace")) <= max_bytes:
        return name
    stem, dot, ext = name.rpartition(".")
    if not dot or not stem or len(ext.encode("utf-8", "replace")) > 16:
        stem, dot, ext = name, "", ""
    budget = max_bytes - len((dot + ext).encode("utf-8", "replace"))
    cut = stem.encode("utf-8", "replace")[:budget].decode("utf-8", "ignore")
    return cut + dot + ext


def safe_name(name: str) -> str:
    """``name`` as a plain file name: no directories, no leading dot, no reserved device name."""
    name = name.replace("\\", "/").rsplit("/", 1)[-1]
    name = "".join(c if c.isalnum() or c in "._-" else "_" for c in name).lstrip(".")
    if _WINDOWS_RESERVED.match(name):
        name = f"_{name}"
    return fit_name(name) or "media"


def named(media: Iterable[Media]) -> list[tuple[Media, str]]:
    """Each file with a distinct safe name (``a.png``, ``a-1.png``, ...)."""
    seen: set[str] = set()
    pairs = []
    for item in media:
        name = safe_name(item.filename)
        stem, dot, ext = name.rpartition(".") if "." in name else (name, "", "")
        candidate, n = name, 0
        while candidate.lower() in seen:
            n += 1
            candidate = f"{stem}-{n}{dot}{ext}"
        seen.add(candidate.lower())
        pairs.append((item, candidate))
    return pairs


def destination(path_or_dir: PathLike, filename: str) -> Path:
    """The file to write: ``filename`` inside ``path_or_dir`` when that names a directory (an
    existing one, a path ending in a separator, or a path that does not exist yet and has no
    file extension, which is then created), else ``path_or_dir`` itself.

    Raises:
        MediaDownloadError: if the file would land outside the directory.
    """
    raw = os.fspath(path_or_dir)
    path = Path(raw)
    is_directory = (
        raw.endswith(("/", os.sep, os.altsep or "/"))
        or path.is_dir()
        or (not path.exists() and not path.suffix)
    )
    if not is_directory:
        return path
    path.mkdir(parents=True, exist_ok=True)
    directory = path.resolve()
    target = (directory / safe_name(filename)).resolve()
    if target.parent != directory:
        raise MediaDownloadError(f"Refusing to write {filename!r} outside {str(directory)!r}.")
    return target


def as_directory(directory: PathLike) -> str:
    """``directory`` with a trailing separator, so `destination` always reads it as a directory."""
    return os.path.join(os.fspath(directory), "")


@contextlib.contextmanager
def disk_errors(url: str, target: Path | None = None) -> Iterator[None]:
    """Turn the disk's errors while saving ``url`` (to ``target``) into `MediaSaveError`, which
    is also the ``OSError`` it replaces (`MediaFileExistsError` for a ``FileExistsError``)."""
    try:
        yield
    except MediaSaveError:
        raise
    except OSError as exc:
        where = str(target or exc.filename or "the file")
        # The file itself exists (`PartFile`'s check, or a link onto it), not some directory
        # on the way that is a file.
        named = {exc.filename, getattr(exc, "filename2", None)} - {None}
        if isinstance(exc, FileExistsError) and (not named or where in map(str, named)):
            cls: type[MediaSaveError] = MediaFileExistsError
            message = f"{where} already exists; pass overwrite=True to replace it."
        else:
            cls = MediaSaveError
            message = f"Could not save the media file to {where}: {exc.strerror or exc}."
        error = cls(message, url=url, path=None if target is None else str(target))
        error.errno, error.strerror, error.filename = exc.errno, exc.strerror, exc.filename
        raise error from exc


class PartFile:
    """Writes to a hidden temporary file beside ``target`` (created on the first write) and
    renames it into place on a clean exit; on any error it is removed, leaving no partial file."""

    def __init__(self, target: Path, *, overwrite: bool) -> None:
        if not overwrite and target.exists():
            raise FileExistsError(f"{target} already exists; pass overwrite=True to replace it.")
        self.target, self.overwrite = target, overwrite
        self.part: Path | None = None
        self._out: IO[bytes] | None = None

    def write(self, chunk: bytes) -> None:
        """Append ``chunk`` to the temporary file."""
        if self._out is None:
            self.target.parent.mkdir(parents=True, exist_ok=True)
            flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
            hidden = f".{fit_name(self.target.name, 180)}.{secrets.token_hex(6)}.part"
            part = self.target.with_name(hidden)
            self._out = os.fdopen(os.open(part, flags, 0o666), "wb")  # the umask applies
            self.part = part
        self._out.write(chunk)

    def __enter__(self) -> PartFile:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        try:
            if exc_type is None:
                self.write(b"")  # an empty file is still a file
            if self._out is not None:
                self._out.close()
            if exc_type is None and self.part is not None:
                self._publish(self.part)
        finally:
            if self.part is not None and (exc_type is not None or self.part.exists()):
                with contextlib.suppress(OSError):
                    os.unlink(self.part)

    def _publish(self, part: Path) -> None:
        if self.overwrite:
            os.replace(part, self.target)
            return
        try:
            os.link(part, self.target)  # atomic: fails if the target appeared meanwhile
        except FileExistsError:
            raise
        except OSError:  # no hard links on this file system
            if self.target.exists():
                raise FileExistsError(f"{self.target} already exists.") from None
            os.replace(part, self.target)
