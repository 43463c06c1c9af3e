"""The ``knouds`` command line (also ``python -m knouds``).

Examples::

    knouds run gpt-image-2 -i prompt="a red fox" --save out/
    knouds workflow run my-thumbnail-pipeline -i prompt="a lighthouse" -i style=3d --json
    knouds submit seedance-2-i2v -i prompt="waves"      # prints the execution id
    knouds wait 3f1c...                                  # waits for it and prints the result
    knouds batch gpt-image-2 inputs.jsonl --out results.jsonl   # resumable: run it again
    knouds journal list inputs.jsonl.journal.sqlite --state unknown   # settle unknown outcomes
    knouds types my-thumbnail-pipeline -o knouds_types.py  # TypedDicts of workflow inputs
    knouds demo                                          # try it offline against the emulator

The API key comes from ``--api-key`` or ``KNOUDS_API_KEY``; the server from ``--base-url`` or
``KNOUDS_BASE_URL``. Results go to stdout (``--json`` for machine-readable output), messages to
stderr.

Exit codes (``EXIT_CODES`` holds them; ``knouds --help`` prints the same table)::

    0   success
    1   any other error
    2   usage: bad arguments or inputs on the command line
    3   configuration: no API key, or a bad base URL
    4   authentication (401) or permission (403) refused
    5   payment required (402): credits or trial grant used up
    6   not found (404): model, workflow or execution
    7   rate limited (429)
    8   bad request (400): invalid inputs, name or body
    9   server error (5xx), execution failed, or a malformed response
    10  connection failed or timed out
    11  execution cancelled
    12  wait timed out (the execution goes on; the message says how to resume)
    13  outcome unknown: a journaled run started and never recorded its end (it may have run)
    14  credit budget reached: the SDK refused to start a run (nothing was sent)

Only the standard library is imported at start-up: the SDK is loaded inside each subcommand, so
``knouds --help`` stays fast.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, TextIO

from .._version import __version__
from .batch import CheckedValue, add_batch_command, seconds
from .errors import EXIT_CODES, ExitCode, _report, exit_code_for
from .inputs import UsageError, read_text
from .journal import add_journal_command
from .output import Elapsed, credits, print_result, rate_limit_dict, save_media
from .types import add_types_command, lookalike_hint

if TYPE_CHECKING:
    import knouds
    from knouds import NotGiven

__all__ = ["EXIT_CODES", "ExitCode", "UsageError", "exit_code_for", "main", "parse_inputs"]

API_KEY_ENV = "KNOUDS_API_KEY"
DEMO_MODEL = "gpt-image-2"
DEMO_PROMPT = "a red fox reading a newspaper in a sunlit cafe, watercolor"


def _epilog() -> str:
    lines = ["exit codes:", "  0   success"]
    seen: dict[int, list[str]] = {}
    for entry in EXIT_CODES.values():
        seen.setdefault(entry.code, []).append(entry.meaning)
    for code in sorted(seen):
        lines.append(f"  {code:<3} {', '.join(seen[code])}")
    lines.append("")
    lines.append("Environment: KNOUDS_API_KEY, KNOUDS_BASE_URL.")
    return "\n".join(lines)


# -- inputs -------------------------------------------------------------------------------


def _reject_constant(name: str) -> object:
    raise ValueError(name)  # NaN and Infinity are not JSON: keep such values as strings


def parse_value(raw: str) -> object:
    """A ``-i`` value: JSON when it parses (numbers, booleans, null, objects), else the string."""
    try:
        return json.loads(raw, parse_constant=_reject_constant)
    except ValueError:
        return raw


def parse_inputs(
    pairs: Sequence[str], inputs_json: str | None = None, stdin: TextIO | None = None
) -> dict[str, object]:
    """Merge ``--inputs-json`` (a file, or ``-`` for stdin) and then ``-i key=value`` pairs.

    Raises:
        UsageError: a pair without ``=``, an unreadable file, a byte that is not UTF-8, or JSON
            that is not an object.
    """
    merged: dict[str, object] = {}
    if inputs_json is not None:
        text = read_text(inputs_json, stdin, what="--inputs-json")
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise UsageError(f"--inputs-json {inputs_json} is not valid JSON: {exc}") from exc
        if not isinstance(data, dict):
            raise UsageError(f"--inputs-json {inputs_json} must hold a JSON object")
        merged.update(data)
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or not key:
            raise UsageError(f"-i expects key=value, got {pair!r}")
        merged[key] = parse_value(raw)
    return merged


# -- subcommands --------------------------------------------------------------------------


def _client(args: argparse.Namespace) -> knouds.Client:
    import knouds

    key = args.api_key if args.api_key is not None else os.environ.get(API_KEY_ENV)
    if not (key or "").strip():
        # The SDK's own message names the api_key argument, which means nothing here.
        raise knouds.ConfigurationError(
            f"No Knouds API key: pass --api-key KEY or set the {API_KEY_ENV} environment "
            "variable. `knouds demo` runs offline without one."
        )
    return knouds.Client(api_key=args.api_key, base_url=args.base_url)


def _timeout(args: argparse.Namespace) -> float | NotGiven:
    from knouds import NOT_GIVEN

    return NOT_GIVEN if args.timeout is None else float(args.timeout)


def _cmd_run(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    inputs = parse_inputs(args.input, args.inputs_json)
    with _client(args) as client, lookalike_hint(inputs):
        resource = client.workflows if args.workflow else client.models
        with Elapsed(f"running {args.name}", err):
            result = resource.run(args.name, inputs, timeout=_timeout(args))
    print_result(result, save_media(result, args.save), args.json, out)
    return 0


def _cmd_submit(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    inputs = parse_inputs(args.input, args.inputs_json)
    with _client(args) as client, lookalike_hint(inputs):
        resource = client.workflows if args.workflow else client.models
        execution = resource.submit(args.name, inputs, timeout=_timeout(args))
    if args.json:
        data = execution.model_dump(mode="json", by_alias=True)
        data["rate_limit"] = rate_limit_dict(execution)
        out.write(json.dumps(data, indent=2) + "\n")
    else:
        out.write(execution.id + "\n")
        err.write(f"Submitted. Follow it with: knouds wait {execution.id}\n")
    return 0


def _cmd_wait(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    wait_for: dict[str, Any] = {} if args.timeout is None else {"timeout": args.timeout}
    with _client(args) as client, Elapsed(f"waiting for {args.execution_id}", err):
        result = client.executions.wait(args.execution_id, **wait_for)
    print_result(result, save_media(result, args.save), args.json, out)
    return 0


def _cmd_schema(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    with _client(args) as client:
        schema = client.workflows.schema(args.name)
    if args.json:
        out.write(json.dumps(schema.model_dump(mode="json", by_alias=True), indent=2) + "\n")
        return 0
    out.write(f"{schema.name or args.name}\n")
    if schema.description:
        out.write(f"{schema.description}\n")
    for field in schema.fields:
        parts = [f"  {field.name}", field.type or "?"]
        if field.required:
            parts.append("required")
        default = schema.values.get(field.name, field.default)
        if default is not None:
            parts.append(f"default={json.dumps(default)}")
        if field.options:
            parts.append("options=" + "|".join(str(o) for o in field.options))
        out.write("  ".join(parts) + "\n")
    if schema.estimated_credit_cost is not None:
        out.write(f"estimated cost: {credits(schema.estimated_credit_cost)}\n")
    return 0


def _cmd_whoami(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    with _client(args) as client:
        identity = client.whoami()
    if args.json:
        out.write(json.dumps(identity.model_dump(mode="json", by_alias=True), indent=2) + "\n")
    else:
        out.write(f"{identity.email or '?'} ({identity.id or '?'})\n")
        approved = {True: "yes", False: "no", None: "?"}[identity.approved]
        out.write(f"tier: {identity.tier}  role: {identity.role}  approved: {approved}\n")
    return 0


def _cmd_emulator(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    # The options belong to the emulator (`python -m knouds.testing`): parsed there, so both
    # commands take the same ones and `knouds --help` never loads the emulator.
    from knouds.testing.__main__ import main as serve_main

    try:
        serve_main(args.emulator_options, prog="knouds emulator")
    except SystemExit as exit_:  # --help, or a usage error argparse already reported
        return exit_.code if isinstance(exit_.code, int) else EXIT_CODES["usage"].code
    return 0


def _cmd_demo(args: argparse.Namespace, out: TextIO, err: TextIO) -> int:
    import tempfile

    import knouds
    from knouds.testing import Emulator

    with Emulator() as emu:
        out.write(
            f"This demo runs against a local Knouds emulator at {emu.base_url}: no real API "
            "call is made and no credits are spent.\n"
        )
        with knouds.Client(api_key=emu.api_key, base_url=emu.base_url) as client:
            out.write(f">>> client.models.run({DEMO_MODEL!r}, {{'prompt': {DEMO_PROMPT!r}}})\n")
            with Elapsed(f"running {DEMO_MODEL}", err):
                result = client.models.run(DEMO_MODEL, {"prompt": DEMO_PROMPT})
            out.write(f"{result!r}\n")
            if args.save:
                print_result(result, save_media(result, args.save), False, out)
            else:
                with tempfile.TemporaryDirectory(prefix="knouds-demo-") as directory:
                    print_result(result, save_media(result, directory), False, out)
                out.write("(saved to a temporary folder, now removed: keep it with --save DIR)\n")
    out.write("Use your own key with: export KNOUDS_API_KEY=...; knouds run gpt-image-2 ...\n")
    return 0


# -- parser -------------------------------------------------------------------------------

Handler = Callable[[argparse.Namespace, TextIO, TextIO], int]


def _run_options(parser: argparse.ArgumentParser, *, save: bool = True) -> None:
    parser.add_argument(
        "-i",
        "--input",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="an input; VALUE is parsed as JSON when it can be (42, true, {...}), else a string",
    )
    parser.add_argument(
        "--inputs-json", metavar="FILE", help="a JSON object of inputs (`-` reads stdin)"
    )
    if save:
        parser.add_argument("--save", metavar="DIR", help="download the media files into DIR")
    parser.add_argument("--json", action="store_true", help="print JSON")
    parser.add_argument(
        "--timeout",
        type=float,
        metavar="S",
        action=CheckedValue,
        check=seconds,
        help="seconds per attempt",
    )


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``knouds`` command."""
    parser = argparse.ArgumentParser(
        prog="knouds",
        description="Run Knouds models and workflows from the command line.",
        epilog=_epilog(),
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"knouds {__version__}")
    parser.add_argument("--api-key", help="API key (default: $KNOUDS_API_KEY)")
    parser.add_argument("--base-url", help="API base URL (default: $KNOUDS_BASE_URL)")
    parser.add_argument(
        "-v",
        "--verbose",
        action="count",
        default=0,
        help="log to stderr: -v retries and waits, -vv every request (like KNOUDS_LOG)",
    )
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    def add(name: str, handler: Handler, help_text: str, parent: Any = commands) -> Any:
        sub = parent.add_parser(name, help=help_text, description=help_text)
        sub.set_defaults(handler=handler, workflow=False)
        return sub

    run = add("run", _cmd_run, "run a model and print its result")
    run.add_argument("name", metavar="MODEL")
    _run_options(run)

    workflow = add("workflow", _cmd_run, "run a workflow or show its input schema")
    workflow_commands = workflow.add_subparsers(dest="action", metavar="ACTION", required=True)
    wf_run = add("run", _cmd_run, "run a workflow and print its result", workflow_commands)
    wf_run.set_defaults(workflow=True)
    wf_run.add_argument("name", metavar="SLUG")
    _run_options(wf_run)
    schema = add("schema", _cmd_schema, "show a workflow's input fields", workflow_commands)
    schema.add_argument("name", metavar="SLUG")
    schema.add_argument("--json", action="store_true", help="print JSON")

    submit = add("submit", _cmd_submit, "start a run asynchronously and print its execution id")
    submit.add_argument("name", metavar="MODEL")
    submit.add_argument("--workflow", action="store_true", help="NAME is a workflow slug")
    _run_options(submit, save=False)

    wait = add("wait", _cmd_wait, "wait for an execution and print its result")
    wait.add_argument("execution_id", metavar="EXECUTION_ID")
    wait.add_argument(
        "--timeout",
        type=float,
        metavar="S",
        action=CheckedValue,
        check=seconds,
        help="seconds to wait in total",
    )
    wait.add_argument("--save", metavar="DIR", help="download the media files into DIR")
    wait.add_argument("--json", action="store_true", help="print JSON")

    add_batch_command(add)
    add_journal_command(add)
    add_types_command(add, _client)

    whoami = add("whoami", _cmd_whoami, "show who the API key belongs to")
    whoami.add_argument("--json", action="store_true", help="print JSON")

    emulator_help = "serve a local Knouds API emulator until Ctrl-C (options: knouds emulator -h)"
    emulator = commands.add_parser("emulator", help=emulator_help, add_help=False)
    emulator.set_defaults(handler=_cmd_emulator, workflow=False, emulator_options=[])

    demo = add("demo", _cmd_demo, "run gpt-image-2 against a local emulator, offline")
    demo.add_argument(
        "--save", metavar="DIR", help="keep the image in DIR (default: a temporary folder, removed)"
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the ``knouds`` command.

    Args:
        argv: the arguments without the program name (default: ``sys.argv[1:]``).

    Returns:
        The exit status (see `EXIT_CODES`).
    """
    parser = build_parser()
    if not (sys.argv[1:] if argv is None else argv):
        parser.print_help(sys.stdout)  # a bare `knouds` asks what there is to do
        return 0
    try:
        args, extra = parser.parse_known_args(argv)
        if extra and args.command != "emulator":
            parser.error(f"unrecognized arguments: {' '.join(extra)}")
        args.emulator_options = extra
    except SystemExit as exit_:  # --help, or a usage error argparse already reported
        return exit_.code if isinstance(exit_.code, int) else EXIT_CODES["usage"].code
    if args.verbose:
        from .._logs import configure_logging

        configure_logging("info" if args.verbose == 1 else "debug", sys.stderr)
    handler: Handler = args.handler
    try:
        return handler(args, sys.stdout, sys.stderr)
    except KeyboardInterrupt:
        sys.stderr.write("knouds: interrupted\n")
        return 130
    except Exception as error:
        secret = getattr(args, "api_key", None) or os.environ.get("KNOUDS_API_KEY")
        return _report(error, sys.stderr, secret)
