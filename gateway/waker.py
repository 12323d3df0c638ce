"""One wake per workspace, however many requests arrive: the `wake` update, shared by every caller.

The first request for a suspended workspace sends the workflow's `wake` update; every request after it,
until the update answers, awaits that same update (the workflow's update is idempotent too, so several
gateway replicas still make one resume). Each caller waits up to its own deadline; one that gives up
leaves the update running for the others.
"""

import asyncio
import logging
from dataclasses import dataclass, field

from temporalio.client import (
    Client,
    WorkflowQueryFailedError,
    WorkflowUpdateFailedError,
    WorkflowUpdateRPCTimeoutOrCancelledError,
)
from temporalio.service import RPCError, RPCStatusCode

from gateway.requests import Target
from workflows.workspace_contracts import WAKE_QUERY, Phase, UpdateName, WakeAnswer, WakeRequest
from workflows.workspace_spec import workflow_id_for

log = logging.getLogger("kaito.gateway")


def refused(phase: Phase, reason: str) -> WakeAnswer:
    return WakeAnswer(phase=phase, ready=False, reason=reason)


@dataclass
class Waker:
    client: Client
    updates_sent: int = 0
    _waking: dict[str, "asyncio.Task[WakeAnswer]"] = field(default_factory=dict)

    def start(self, target: Target) -> "asyncio.Task[WakeAnswer]":
        """The wake of `target` in flight, sending the update if none is."""
        task = self._waking.get(target.key)
        if task is None:
            task = asyncio.create_task(self._wake(target))
            self._waking[target.key] = task
            task.add_done_callback(lambda done: self._forget(target.key, done))
        return task

    def _forget(self, key: str, done: "asyncio.Task[WakeAnswer]") -> None:
        if self._waking.get(key) is done:
            del self._waking[key]

    async def wait(self, target: Target, timeout: float) -> WakeAnswer | None:
        """The wake's answer, or None when it did not come within `timeout` seconds."""
        try:
            return await asyncio.wait_for(asyncio.shield(self.start(target)), timeout)
        except TimeoutError:
            return None

    async def _wake(self, target: Target) -> WakeAnswer:
        handle = self.client.get_workflow_handle(workflow_id_for(target.namespace, target.service))
        self.updates_sent += 1
        log.info("waking %s", target.key)
        try:
            answer: WakeAnswer = await handle.execute_update(
                UpdateName.WAKE, WakeRequest(), result_type=WakeAnswer
            )
            return answer
        except WorkflowUpdateFailedError as failed:  # the validator refused: Failed, deleting
            cause = failed.cause
            return refused(Phase.FAILED, str(getattr(cause, "message", None) or cause or failed))
        except RPCError as error:
            if error.status == RPCStatusCode.NOT_FOUND:
                return refused(Phase.DELETED, f"no workspace {target.key}, or it has just been deleted")
            return refused(Phase.PENDING, f"Temporal did not answer the wake: {error.message}")
        except WorkflowUpdateRPCTimeoutOrCancelledError as error:  # a Temporal outage longer than the poll
            return refused(Phase.PENDING, f"the wake's answer did not come: {error}")

    async def status(self, target: Target) -> WakeAnswer:
        """Where the wake stands now (the workflow's `wake` query), for a caller that does not wait."""
        handle = self.client.get_workflow_handle(workflow_id_for(target.namespace, target.service))
        try:
            answer: WakeAnswer = await handle.query(WAKE_QUERY, result_type=WakeAnswer)
            return answer
        except RPCError as error:
            if error.status == RPCStatusCode.NOT_FOUND:
                return refused(Phase.DELETED, f"no workspace {target.key}")
            return refused(Phase.PENDING, f"Temporal did not answer: {error.message}")
        except WorkflowQueryFailedError as failed:
            return refused(Phase.PENDING, f"the workspace's workflow did not answer: {failed}")
