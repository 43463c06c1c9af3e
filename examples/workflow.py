"""Read a workflow's input fields, run it with those fields checked, and handle a missing slug.

    python examples/workflow.py [SLUG]

SLUG defaults to ``my-thumbnail-pipeline``. With KNOUDS_API_KEY set this calls Knouds itself
(pass the slug of a workflow your account owns; a run spends credits); without it, it runs
against the local Knouds emulator that ships with the SDK, which has that workflow.
"""

from __future__ import annotations

import os
import sys
from contextlib import ExitStack

import knouds

WANTED_INPUTS = {"prompt": "a cosy cabin in a snowy forest at dusk", "style": "illustration"}


def main(slug: str = "my-thumbnail-pipeline") -> None:
    with ExitStack() as stack:
        if not os.environ.get("KNOUDS_API_KEY"):  # no key: serve the API locally instead
            from knouds.testing import Emulator

            emu = stack.enter_context(Emulator())
            os.environ.update(KNOUDS_API_KEY=emu.api_key, KNOUDS_BASE_URL=emu.base_url)
            print(f"KNOUDS_API_KEY is not set: using the local Knouds emulator at {emu.base_url}")
        client = stack.enter_context(knouds.Client())

        try:
            schema = client.workflows.schema(slug)
        except knouds.WorkflowNotFoundError:
            sys.exit(f"No workflow {slug!r} in this account: pass the slug of one of yours.")
        print(f"workflow: {schema.name} - {schema.description}")
        if schema.estimated_credit_cost is not None:
            print(f"estimated credits per run: {schema.estimated_credit_cost}")
        for field in schema.fields:
            required = "required" if field.required else "optional"
            details = f"{field.type or 'any'}, {required}"
            if field.options:
                details += f", one of {field.options}"
            if field.default is not None:
                details += f", default {field.default!r}"
            print(f"  field {field.name}: {details}")

        # Send only the inputs this workflow has; omitted fields fall back to their defaults.
        inputs = {k: v for k, v in WANTED_INPUTS.items() if k in schema.field_names}
        # check_inputs=True checks the inputs against the schema (read once, then cached) and
        # refuses unknown names and values it rules out before running.
        result = client.workflows.run(slug, inputs, check_inputs=True)
        print(f"result: {result!r}")
        for media in result.media:
            print(f"  {media.kind}: {media.url}")
        if result.text is not None:
            print(f"  text: {result.text}")

        try:
            client.workflows.run(slug, {**inputs, "colour": "teal"}, check_inputs=True)
        except knouds.InvalidInputsError as error:
            print(f"refused before running: {error}")

        try:
            client.workflows.run("no-such-workflow", {"prompt": "hello"})
        except knouds.WorkflowNotFoundError as error:
            print(f"WorkflowNotFoundError (HTTP {error.status_code}): {error}")


if __name__ == "__main__":
    main(*sys.argv[1:2])
