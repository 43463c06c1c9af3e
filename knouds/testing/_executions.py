"""Asynchronous executions: their lifecycle on the emulator clock and their JSON bodies."""

from __future__ import annotations

from dataclasses import dataclass, field

from knouds.testing._bodies import execution_body

TERMINAL = frozenset({"completed", "failed", "cancelled"})
"""Statuses after which an execution never changes."""


@dataclass
class Execution:
    """One asynchronous run.

    It stays ``processing`` (or ``cancel_requested``) until ``due_at`` on the emulator clock,
    then becomes ``cancelled`` if a cancel was requested, ``failed`` if the model fails, and
    ``completed`` otherwise.
    """

    id: str
    request_id: str
    user_id: str
    key_id: str
    workflow_slug: str | None
    model_ids: list[str]
    created_at: float
    due_at: float
    result: dict[str, object] | None
    cost: int
    ms: int
    error: dict[str, str] | None = None
    status: str = "processing"
    webhook: tuple[str, str] | None = None
    webhook_sent: bool = False
    extra: dict[str, object] = field(default_factory=dict)

    @property
    def terminal(self) -> bool:
        """Whether the execution has finished."""
        return self.status in TERMINAL

    def advance(self, now: float) -> bool:
        """Move to a terminal status when due.

        Returns:
            ``True`` exactly when this call made the execution terminal.
        """
        if self.terminal or now < self.due_at:
            return False
        if self.status == "cancel_requested":
            self.status = "cancelled"
        elif self.error is not None:
            self.status = "failed"
        else:
            self.status = "completed"
        return True

    def body(self) -> dict[str, object]:
        """Return the poll body."""
        if self.status == "completed":
            return execution_body(
                self.id,
                self.status,
                request_id=self.request_id,
                result=self.result,
                cost=self.cost,
                ms=self.ms,
            )
        if self.status == "failed":
            return execution_body(
                self.id,
                self.status,
                request_id=self.request_id,
                error=self.error,
                cost=0,
                ms=self.ms,
            )
        cost = self.cost if self.status == "cancelled" else None
        return execution_body(self.id, self.status, request_id=self.request_id, cost=cost)

    def event(self) -> dict[str, object]:
        """Return the webhook event for a terminal execution."""
        name = {"completed": "execution.completed", "failed": "execution.failed"}.get(
            self.status, "execution.cancelled"
        )
        event: dict[str, object] = {
            "event": name,
            "executionId": self.id,
            "requestId": self.request_id,
            "userId": self.user_id,
            "workflowSlug": self.workflow_slug,
            "modelIds": list(self.model_ids),
            "status": self.status,
            "result": self.result if self.status == "completed" else None,
        }
        if self.status == "failed":
            event["error"] = self.error
        return event
