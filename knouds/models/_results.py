"""``RunResult``: the outcome of a model or workflow run."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from pydantic import PrivateAttr

from .._types import NOT_GIVEN
from ._base import KnoudsModel as _Model
from ._media import Media, MediaKind, collect_media, collect_text
from ._ratelimit import RateLimit

if TYPE_CHECKING:
    from pathlib import Path

    import httpx

    from .._media.fetch import MediaTimeout
    from .._media.files import PathLike

__all__ = ["RunResult"]


class RunResult(_Model):
    """The outcome of a model or workflow run.

    Attributes:
        success: always ``True`` on a result (failures raise).
        result: the output, as Knouds returned it (object, array, string or ``None``).
        cost: credits charged; ``0`` means a trial grant paid.
        ms: server-side execution time in milliseconds.
        rate_limit: the rate-limit state the response reported, or ``None``.
    """

    success: bool = True
    result: Any = None
    cost: int | float | None = None
    ms: int | float | None = None
    _rate_limit: RateLimit | None = PrivateAttr(default=None)
    _media: dict[MediaKind, list[Media]] | None = PrivateAttr(default=None)
    _from_journal: bool = PrivateAttr(default=False)

    @property
    def rate_limit(self) -> RateLimit | None:
        """The ``X-RateLimit-*`` state reported with this result, or ``None``."""
        return self._rate_limit

    @property
    def from_journal(self) -> bool:
        """``True`` when this result was read from the run journal: nothing was sent for it."""
        return self._from_journal

    def _collected(self) -> dict[MediaKind, list[Media]]:
        if self._media is None:
            self._media = collect_media(self.result)
        return self._media

    @property
    def images(self) -> list[Media]:
        """The images in the result (empty when there are none)."""
        return list(self._collected()["image"])

    @property
    def videos(self) -> list[Media]:
        """The videos in the result (empty when there are none)."""
        return list(self._collected()["video"])

    @property
    def audios(self) -> list[Media]:
        """The audio files in the result (empty when there are none)."""
        return list(self._collected()["audio"])

    @property
    def media(self) -> list[Media]:
        """Every media file in the result: images, then videos, then audio."""
        found = self._collected()
        return [*found["image"], *found["video"], *found["audio"]]

    @property
    def text(self) -> str | None:
        """The text output (several strings are joined by newlines), or ``None``."""
        return collect_text(self.result)

    def __repr__(self) -> str:
        parts = [f"cost={self.cost!r}", f"ms={self.ms!r}"]
        found = self._collected()
        kinds: tuple[MediaKind, ...] = ("image", "video", "audio")
        for kind in kinds:
            if found[kind]:
                parts.append(f"{kind}s={len(found[kind])}")
        text = self.text
        if text is not None:
            parts.append(f"text={text[:40] + '…' if len(text) > 40 else text!r}")
        return f"RunResult({', '.join(parts)})"

    __str__ = __repr__

    def save_all(
        self,
        directory: PathLike = ".",
        *,
        max_bytes: int | None = None,
        timeout: MediaTimeout = NOT_GIVEN,
        http_client: httpx.Client | None = None,
    ) -> list[Path]:
        """Save every media file of the result into ``directory`` (created if missing).

        Files keep their `Media.filename`; repeated names get a ``-1``, ``-2``... suffix.
        Files saved before an error stay saved. Arguments and errors as for `Media.save`
        (``max_bytes`` applies to each file).

        Returns:
            The paths written, in the order of `media`.
        """
        from .._sync.download import save_all

        return save_all(
            self.media, directory, max_bytes=max_bytes, timeout=timeout, http_client=http_client
        )

    async def asave_all(
        self,
        directory: PathLike = ".",
        *,
        max_bytes: int | None = None,
        timeout: MediaTimeout = NOT_GIVEN,
        http_client: httpx.AsyncClient | None = None,
    ) -> list[Path]:
        """Async twin of `save_all` (``http_client`` is an ``httpx.AsyncClient``)."""
        from .._async.download import asave_all

        return await asave_all(
            self.media, directory, max_bytes=max_bytes, timeout=timeout, http_client=http_client
        )

    def _repr_html_(self) -> str:
        from .._media.display import result_html

        return result_html(self)
