"""``knouds types``: write a Python module of ``TypedDict`` classes, one per workflow, from the
workflows' input schemas, so a type checker catches a misspelt input before anything runs.

    knouds types my-thumbnail-pipeline my-pipeline -o knouds_types.py
    knouds types --all -o knouds_types.py      # every workflow the key can read
"""

from __future__ import annotations

import argparse
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any, TextIO

if TYPE_CHECKING:
    import knouds

__all__ = ["add_types_command", "lookalike_hint"]


class TypesUsageError(Exception):
    """A mistake in the arguments of ``knouds types`` (exit status 2)."""


def _command(args: argparse.Namespace) -> str:
    """The command as the header shows it: what to run again (no key, no server, no path)."""
    return "knouds types --all" if args.all else f"knouds types {' '.join(sorted(set(args.slugs)))}"


def _readable_slugs(client: knouds.Client) -> list[str]:
    return sorted({summary.slug for summary in client.workflows.list()})


def _types_of(
    client: knouds.Client, slugs: list[str], skip_unreadable: bool, err: TextIO
) -> list[Any]:
    import knouds
    from knouds._base.workflows import rules_of
    from knouds._core.typegen import WorkflowInputs

    found = []
    for slug in slugs:
        try:
            schema = client.workflows.schema(slug)
        except (knouds.PermissionDeniedError, knouds.NotFoundError) as error:
            if not skip_unreadable:
                raise
            err.write(f"knouds: skipped {slug}: {error}\n")
            continue
        found.append(WorkflowInputs(slug, rules_of(schema), schema.name, schema.description))
    return found


def _cmd_types(
    args: argparse.Namespace, out: TextIO, err: TextIO, client: Callable[..., Any]
) -> int:
    from knouds._core.typegen import render_module

    if bool(args.slugs) == bool(args.all):
        raise TypesUsageError("give workflow slugs, or --all (not both)")
    with client(args) as knouds_client:
        slugs = _readable_slugs(knouds_client) if args.all else sorted(set(args.slugs))
        workflows = _types_of(knouds_client, slugs, args.all, err)
    if not workflows:
        raise TypesUsageError("no workflow schema could be read: nothing to write")
    source = render_module(workflows, _command(args))
    if args.output in (None, "-"):
        out.write(source)
        return 0
    path = Path(args.output)
    if not path.exists() or path.read_text(encoding="utf-8") != source:
        path.write_text(source, encoding="utf-8")
    names = ", ".join(w.slug for w in workflows)
    err.write(f"knouds: wrote {path} ({len(workflows)} workflows: {names})\n")
    return 0


@contextmanager
def lookalike_hint(inputs: Mapping[str, object]) -> Iterator[None]:
    """Add to a "missing input" refusal the given names that look like the missing one.

    Models publish no schema, but a server message that names a missing required input
    (``Missing required input: prompt``) says enough to point at ``prmpt``. The error keeps its
    class, status and code.
    """
    try:
        yield
    except Exception as error:
        import knouds
        from knouds._core.inputs import missing_input_hint

        if not isinstance(error, knouds.InvalidInputsError):
            raise
        hint = missing_input_hint(error.message, inputs)
        if hint is None:
            raise
        raise type(error)(
            f"{error.message.rstrip().rstrip('.')}; {hint}",
            status_code=error.status_code,
            code=error.code,
            body=error.body,
            response=error.response,
            rate_limit=error.rate_limit,
        ) from error


def add_types_command(add: Callable[..., Any], client: Callable[..., Any]) -> Any:
    """Register ``knouds types`` with the parser's ``add(name, handler, help)`` helper.

    Args:
        add: the parser's helper that adds a subcommand.
        client: builds the ``knouds.Client`` from the parsed arguments.
    """

    def handler(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
        try:
            return _cmd_types(args, out, err, client)
        except TypesUsageError as error:
            err.write(f"knouds: error: {error}\n")
            return 2

    types = add(
        "types",
        handler,
        "write a Python module of TypedDicts for workflows' inputs, from their schemas",
    )
    types.add_argument("slugs", nargs="*", metavar="SLUG", help="the workflows to write types for")
    types.add_argument(
        "--all", action="store_true", help="every workflow the key can list and read"
    )
    types.add_argument(
        "-o", "--output", metavar="FILE", help="write the module to FILE (default: stdout)"
    )
    return types
