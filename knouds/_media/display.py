"""Notebook display: HTML previews of media and run results (Jupyter calls ``_repr_html_``)."""

from __future__ import annotations

import html
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ..models import Media, RunResult

__all__ = ["media_html", "result_html"]


def media_html(media: Media) -> str:
    """An HTML preview of one file: ``<img>``, ``<video controls>`` or ``<audio controls>``."""
    if not media.url.lower().startswith(("https://", "http://")):
        return f"<code>{html.escape(media.url)}</code>"  # never an active link for other schemes
    src = html.escape(media.url, quote=True)
    if media.kind == "image":
        return f'<img src="{src}" alt="{html.escape(media.filename)}" style="max-width:100%">'
    if media.kind == "video":
        return f'<video controls src="{src}" style="max-width:100%"></video>'
    if media.kind == "audio":
        return f'<audio controls src="{src}"></audio>'
    return f'<a href="{src}">{html.escape(media.filename)}</a>'


def result_html(result: RunResult, *, text_limit: int = 2000) -> str:
    """An HTML preview of a run: its media, then a small table of cost, time, limits and text."""
    rows: list[tuple[str, object]] = [("cost", result.cost), ("ms", result.ms)]
    limit = result.rate_limit
    if limit is not None:
        rows.append(("rate limit", f"{limit.remaining} / {limit.limit} remaining"))
    text = result.text
    if text is not None:
        rows.append(("text", text if len(text) <= text_limit else text[:text_limit] + "…"))
    cells = "".join(
        f'<tr><th style="text-align:left">{html.escape(name)}</th>'
        f'<td style="text-align:left;white-space:pre-wrap">{html.escape(str(value))}</td></tr>'
        for name, value in rows
        if value is not None
    )
    previews = "".join(f"<div>{media_html(m)}</div>" for m in result.media)
    return f'<div class="knouds-run-result">{previews}<table>{cells}</table></div>'
