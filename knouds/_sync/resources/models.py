# Generated from knouds/_async/resources/models.py by scripts/unasync.py:
# edit that file, not this one.
"""``client.models``: run registry models, synchronously or as async executions."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING

from ..._base.batch import BatchProgress
from ..._base.checks import check_journal_spec
from ..._base.runs import RunOptions
from ..._core.checks import check_batch, check_call
from ..._core.retry import RetryPolicy
from ..._stores.usage import BatchResults
from ..._types import NOT_GIVEN, Inputs, NotGiven, TimeoutTypes
from ...models import Execution, RunResult
from ._runs import Runs

if TYPE_CHECKING:
    from ..._stores.journal import JournalSpec
    from ..client import Client

__all__ = ["Models"]


class Models(Runs):
    """Registry models: ``POST /api/models/{internalName}/run``."""

    _kind = "models"

    def __init__(self, client: Client) -> None:
        self._client = client

    def run_many(
        self,
        name: str,
        inputs_list: Iterable[Inputs],
        *,
        concurrency: int = 8,
        return_exceptions: bool = True,
        progress: BatchProgress = None,
        timeout: TimeoutTypes | NotGiven = NOT_GIVEN,
        extra_headers: Mapping[str, str] | None = None,
        retry: RetryPolicy | None = None,
        journal: JournalSpec | None = None,
        submit: bool = False,
        resend_unknown: bool = False,
        poll_interval: float = 1.0,
        max_credits: float | None = None,
    ) -> BatchResults:
        """Run a model on many inputs, ``concurrency`` at a time; results come in input order.

        Each input goes through `run` (same retries and rate-limit pacing, shared by every
        worker thread).

        Args:
            name: the model's internal name, e.g. ``"gpt-image-2"``.
            inputs_list: one inputs mapping per run.
            concurrency: how many runs may be in flight at once (default 8).
            return_exceptions: put each failed input's error in its slot (default). With
                ``False``, the first error stops the batch: no further input is started, runs
                already in flight finish, then that error is raised.
            progress: ``True`` shows a tqdm bar when tqdm is installed (``pip install
                knouds[tqdm]``; without it, no bar), or a ``callback(done, total, outcome)``
                called after each input.
            timeout: each run's per-attempt timeout (default: the client's).
            extra_headers: headers for each run.
            retry: each run's retry policy (default: the client's).
            journal: record the batch in this run journal (a SQLite file path, a ``redis://``
                URL, or a `Journal`; default: the client's, if any). Running the same batch
                again with the same journal resumes it: completed inputs come from the journal
                without sending anything, inputs refused with an error that proves nothing ran
                are sent again, and an input whose outcome is unknown (the process died while
                it was in flight) is not sent: its slot holds an `UnknownOutcomeError`.
            submit: start each input as an async execution (``?async=true``) and wait for it.
                With a journal, the execution id is recorded right after the submission, so a
                resumed batch waits on it instead of running it again: no input's outcome is
                ever unknown. The model must support async runs.
            resend_unknown: send inputs whose outcome is unknown again (they may be charged
                twice).
            poll_interval: with ``submit``, seconds between the first polls of each execution.
            max_credits: the most credits this batch may spend, on top of the client's
                ``budget``: once spent, the remaining inputs get `BudgetExceededError`
                and are not sent. With a progress bar, the credits charged so far and the
                projected total of the batch are shown after the first result.

        Returns:
            One slot per input, in input order: its `RunResult`, or the
            `KnoudsError` it raised; ``.usage`` tells what the batch cost.

        Raises:
            InvalidSlugError: ``name`` is not valid; raised at once, nothing is sent.
            ConfigurationError: a bad setting (``concurrency``, ``max_credits``,
                ``poll_interval``, ``journal``, ``timeout``, ``retry``...); raised at once,
                nothing is sent.
            KnoudsError: with ``return_exceptions=False``, the first error an input raised.

        Example:
            >>> inputs = [{"prompt": p} for p in ["a red fox", "a blue whale"]]
            >>> client.models.run_many("gpt-image-2", inputs)  # doctest: +SKIP
            >>> client.models.run_many(
            ...     "gpt-image-2", inputs, journal="batch.sqlite"
            ... )  # doctest: +SKIP
        """
        check_call(timeout=timeout, extra_headers=extra_headers, retry=retry)
        check_batch(concurrency, poll_interval, max_credits)
        check_journal_spec(journal)
        options = RunOptions(False, timeout, extra_headers, retry)
        return self._run_many(
            name,
            inputs_list,
            options,
            concurrency,
            return_exceptions,
            progress,
            journal,
            submit,
            resend_unknown,
            poll_interval,
            max_credits,
        )

    def run(
        self,
        name: str,
        inputs: Inputs,
        *,
        timeout: TimeoutTypes | NotGiven = NOT_GIVEN,
        extra_headers: Mapping[str, str] | None = None,
        retry: RetryPolicy | None = None,
        idempotency_key: str | None = None,
    ) -> RunResult:
        """Run a model and wait for its output.

        Args:
            name: the model's internal name, e.g. ``"gpt-image-2"``.
            inputs: the model's parameters, e.g. ``{"prompt": "a red fox"}``.
            timeout: this call's per-attempt timeout (default: the client's).
            extra_headers: headers for this call only.
            retry: this call's retry policy (default: the client's).
            idempotency_key: names this run in the client's journal (``Client(journal=...)``;
                without a key, a journaled run is named by a hash of the model and inputs).
                A key already completed returns its stored result and sends nothing; a key in
                flight in another thread or process is waited for, up to the retry policy's
                ``deadline`` (if set); a key whose run started and never recorded an end raises
                `UnknownOutcomeError`. Keys expire with the journal's ``ttl``.

        Returns:
            The typed result: ``images``, ``videos``, ``audios``, ``text``, ``cost``, ``ms``.

        Raises:
            InvalidSlugError: ``name`` is not a valid model name (nothing is sent).
            InvalidInputsError: ``inputs`` is not a JSON-serialisable mapping (nothing is sent).
            APIStatusError: a subclass for each status and code the API answers.
            BudgetExceededError: the client's credit budget has no room for the run (nothing is
                sent).
            UnknownOutcomeError: the key's earlier run may have happened (nothing is sent).
            IdempotencyConflictError: the key names a run of other inputs, or the retry
                policy's ``deadline`` ran out while the key's run was in flight elsewhere
                (nothing is sent).
            ConfigurationError: an ``idempotency_key`` without a journal on the client, or a
                bad ``timeout``, ``extra_headers`` or ``retry`` (nothing is sent).
        """
        check_call(timeout=timeout, extra_headers=extra_headers, retry=retry)
        options = RunOptions(False, timeout, extra_headers, retry)
        return self._run(name, inputs, options, idempotency_key)

    def submit(
        self,
        name: str,
        inputs: Inputs,
        *,
        timeout: TimeoutTypes | NotGiven = NOT_GIVEN,
        extra_headers: Mapping[str, str] | None = None,
        retry: RetryPolicy | None = None,
        idempotency_key: str | None = None,
    ) -> Execution:
        """Start a model run asynchronously (``?async=true``) and return at once.

        Follow it with ``client.executions.wait(execution.id)``. Models whose provider cannot run
        asynchronously raise `AsyncNotSupportedError`. With ``idempotency_key`` (see `run`), a
        key already submitted returns its execution's current state instead of a new one.
        """
        check_call(timeout=timeout, extra_headers=extra_headers, retry=retry)
        options = RunOptions(False, timeout, extra_headers, retry)
        return self._submit(name, inputs, options, idempotency_key)
