"""``knouds journal``: look into a run journal and settle unknown outcomes from the shell.

    knouds journal list FILE [--state STATE] [--json]   # the entries, oldest first
    knouds journal show FILE KEY                         # one entry, as JSON
    knouds journal forget FILE KEY                       # the next batch sends it again
    knouds journal mark-failed FILE KEY NOTE             # settle it: never sent again

``FILE`` is a journal's SQLite file or a ``redis://`` URL. An entry whose run started and whose
process is gone without recording its end is listed as ``unknown``, like the entries recorded
``unknown``: ``--state unknown`` lists every run that may have run without its result known.

Also here: `redact_urls`, which hides the credentials of every URL the command prints.
"""

from __future__ import annotations

import argparse
import json
import re
import time
from collections.abc import Callable
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

from .inputs import UsageError

if TYPE_CHECKING:
    from .._core.journal import JournalEntry
    from .._stores.journal import Journal

__all__ = ["JournalUsageError", "add_journal_command", "effective_state", "redact_urls"]

STATES = ("started", "submitted", "completed", "failed", "rejected", "unknown")

# scheme://user:password@ (the password may hold an unescaped "@": the last one ends it).
_USERINFO = re.compile(
    r"(?P<scheme>\b[A-Za-z][A-Za-z0-9+.-]*://)(?P<user>[^/@\s:]*)(?::(?P<password>[^/\s]*))?@"
)


def _hide(match: re.Match[str]) -> str:
    user, password = match["user"], match["password"]
    if password is None:
        return f"{match['scheme']}***@" if user else match[0]
    return f"{match['scheme']}{user}:***@"


def redact_urls(text: str) -> str:
    """``text`` with the password (or a lone user name, often a token) of every URL in it
    replaced by ``***``: ``redis://:s3cret@host/0`` -> ``redis://:***@host/0``."""
    return _USERINFO.sub(_hide, text) if "://" in text else text


class JournalUsageError(UsageError):
    """A journal that cannot be opened as given, or an entry that cannot be changed that way
    (exit status 2)."""


def when(epoch: float) -> str:
    """An epoch time as ``YYYY-MM-DD HH:MM:SS UTC``."""
    return datetime.fromtimestamp(epoch, timezone.utc).strftime("%Y-%m-%d %H:%M:%S UTC")


def effective_state(journal: Journal, entry: JournalEntry, now: float) -> str:
    """The entry's state as a person should read it: a ``started`` run whose process is gone
    (or, on another machine, started longer than ``stale_after`` ago) is ``unknown``."""
    if entry.state == "started" and not journal.is_alive(entry, now):
        return "unknown"
    return entry.state


def note(journal: Journal, entry: JournalEntry, now: float) -> str:
    """What happened to the entry's run, in a few words."""
    state = effective_state(journal, entry, now)
    error = entry.error or {}
    if entry.state == "started":
        if state == "unknown":
            return f"process {entry.owner} stopped before recording how the run ended"
        return f"in flight in process {entry.owner}"
    if entry.state == "submitted":
        return f"execution {entry.execution_id}"
    if entry.state == "completed":
        cost = (entry.result or {}).get("cost")
        return "result kept" + ("" if cost is None else f", cost {cost}")
    return " ".join(str(error.get("message") or "").split())


def open_journal_arg(spec: str) -> Journal:
    """The journal ``FILE`` names: a ``redis://`` URL, or an existing SQLite file (a missing
    one is not created).

    Raises:
        JournalUsageError: no file at that path, or a directory.
    """
    from .._stores.journal import open_journal
    from .._stores.redis import is_redis_url
    from .._stores.sqlite_journal import SQLiteJournal

    if is_redis_url(spec):
        return open_journal(spec)
    path = Path(spec)
    if not path.is_file():
        what = "a directory" if path.is_dir() else "no such file"
        raise JournalUsageError(f"no journal at {spec}: {what}")
    return SQLiteJournal(path)


def _entry_dict(journal: Journal, entry: JournalEntry, now: float) -> dict[str, Any]:
    data: dict[str, Any] = {
        "key": entry.key,
        "state": effective_state(journal, entry, now),
        "recorded_state": entry.state,
        "target": entry.target,
        "started_at": when(entry.started_at),
        "updated_at": when(entry.updated_at),
        "expires_at": when(entry.expires_at),
        "owner": entry.owner,
        "note": note(journal, entry, now),
    }
    if entry.execution_id is not None:
        data["execution_id"] = entry.execution_id
    if entry.error is not None:
        data["error"] = entry.error
    if entry.result is not None:
        data["result"] = entry.result
    return data


def _cmd_list(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    now = time.time()
    with open_journal_arg(args.file) as journal:
        found = [
            entry
            for entry in journal.entries()
            if args.state is None or effective_state(journal, entry, now) == args.state
        ]
        rows = [_entry_dict(journal, entry, now) for entry in found]
    if args.json:
        for row in rows:
            out.write(json.dumps(row, ensure_ascii=False) + "\n")
        return 0
    for row in rows:
        out.write(f"{row['key']}  {row['state']}  started {row['started_at']}  {row['note']}\n")
    name = redact_urls(args.file)
    which = "" if args.state is None else f" {args.state}"
    err.write(f"knouds: {len(rows)}{which} {'entry' if len(rows) == 1 else 'entries'} in {name}\n")
    if rows and args.state == "unknown":
        err.write(
            "knouds: each of these runs may have run and been charged; the next batch does not "
            "send them. Check whether they ran (the Knouds dashboard lists your runs), then "
            f"either `knouds journal forget {name} KEY` (the next batch sends it again, and pays "
            f"again if it had run) or `knouds journal mark-failed {name} KEY NOTE` (settled: "
            "never sent again).\n"
        )
    return 0


def _get(journal: Journal, spec: str, key: str) -> JournalEntry:
    entry = journal.get(key)
    if entry is None:
        raise JournalUsageError(
            f"no entry {key!r} in {redact_urls(spec)} (see `knouds journal list`; "
            "entries expire after the journal's ttl)"
        )
    return entry


def _cmd_show(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    with open_journal_arg(args.file) as journal:
        entry = _get(journal, args.file, args.key)
        data = _entry_dict(journal, entry, time.time())
    out.write(json.dumps(data, indent=2, ensure_ascii=False) + "\n")
    return 0


def _refuse_in_flight(journal: Journal, entry: JournalEntry, action: str) -> None:
    if effective_state(journal, entry, time.time()) == "started":
        raise JournalUsageError(
            f"the run {entry.key!r} is in flight in process {entry.owner}: not {action} (wait "
            "for it to end, or stop that process first)"
        )


def _cmd_forget(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    with open_journal_arg(args.file) as journal:
        entry = _get(journal, args.file, args.key)
        _refuse_in_flight(journal, entry, "forgotten")
        state = effective_state(journal, entry, time.time())
        journal.forget(args.key)
    again = " (and pays again if it had run)" if state == "unknown" else ""
    err.write(
        f"knouds: forgot {args.key!r} (it was {state}): the next batch with these inputs sends "
        f"it again{again}.\n"
    )
    return 0


def _cmd_mark_failed(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    with open_journal_arg(args.file) as journal:
        entry = _get(journal, args.file, args.key)
        _refuse_in_flight(journal, entry, "marked failed")
        if entry.state == "completed":
            raise JournalUsageError(
                f"the run {args.key!r} completed: its result is kept (use `knouds journal "
                "forget` to run it again)"
            )
        if not journal.mark_failed(args.key, args.note):
            raise JournalUsageError(f"the entry {args.key!r} changed meanwhile: try again")
    err.write(
        f"knouds: marked {args.key!r} failed: the next batch reports this failure for it and "
        "sends nothing.\n"
    )
    return 0


def add_journal_command(add: Callable[..., Any]) -> Any:
    """Register ``knouds journal`` with the parser's ``add(name, handler, help, parent)``."""
    journal = add("journal", _cmd_list, "list a run journal's entries and settle unknown outcomes")
    actions = journal.add_subparsers(dest="action", metavar="ACTION", required=True)
    file_help = "the journal: a SQLite file or a redis:// URL"

    listing = add("list", _cmd_list, "list the entries, oldest first", actions)
    listing.add_argument("file", metavar="FILE", help=file_help)
    listing.add_argument(
        "--state",
        choices=STATES,
        help="only entries in this state (unknown: also runs whose process stopped mid-run)",
    )
    listing.add_argument("--json", action="store_true", help="one JSON object per line")

    show = add("show", _cmd_show, "print one entry as JSON", actions)
    show.add_argument("file", metavar="FILE", help=file_help)
    show.add_argument("key", metavar="KEY")

    forget = add("forget", _cmd_forget, "drop an entry: the next batch sends it again", actions)
    forget.add_argument("file", metavar="FILE", help=file_help)
    forget.add_argument("key", metavar="KEY")

    mark = add(
        "mark-failed",
        _cmd_mark_failed,
        "settle an unknown outcome as failed with NOTE: never sent again",
        actions,
    )
    mark.add_argument("file", metavar="FILE", help=file_help)
    mark.add_argument("key", metavar="KEY")
    mark.add_argument("note", metavar="NOTE", help="why, e.g. 'ran on 2026-11-30, see dashboard'")
    return journal
