"""End-to-end fixtures: an emulator over real sockets and clients of both kinds on real time."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from knouds.testing import Emulator

MakeClient = Callable[..., Any]


def prompt_of(body: object) -> str:
    """The ``inputs.prompt`` of a logged run request's JSON body."""
    assert isinstance(body, dict)
    inputs = body["inputs"]
    assert isinstance(inputs, dict)
    prompt = inputs["prompt"]
    assert isinstance(prompt, str)
    return prompt


@pytest.fixture
def emu() -> Iterator[Emulator]:
    """An emulator on 127.0.0.1 whose async executions finish after 50 ms (override per module)."""
    with Emulator(execution_delay=0.05) as emulator:
        yield emulator


@pytest.fixture
def connect(make_client: MakeClient, client_kind: str) -> Callable[..., Any]:
    """``connect(emulator, api_key=None, **client_kwargs)``: a client of the tested kind on real
    time, talking to the emulator over sockets (closed after the test)."""

    def factory(emulator: Emulator, api_key: str | None = None, **kwargs: Any) -> Any:
        return make_client(
            None,
            api_key=api_key or emulator.api_key,
            base_url=emulator.base_url,
            clock=time.time,
            sleep=time.sleep if client_kind == "sync" else asyncio.sleep,
            **kwargs,
        )

    return factory


@pytest.fixture
def client(connect: Callable[..., Any], emu: Emulator) -> Any:
    """A client of the tested kind connected to ``emu`` with its all-powerful key."""
    return connect(emu)
