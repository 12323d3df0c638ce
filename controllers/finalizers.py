"""Holding a KAITO object's finalizer until its workflow has removed everything it created.

Both doors (Workspace and InferenceSet) delete the same way: signal the running workflow once per
attempt, and keep the finalizer (kopf retries the handler) until the workflow has ended or never ran.
"""

from typing import Any

import kopf
from temporalio.client import WorkflowExecutionStatus, WorkflowHandle
from temporalio.service import RPCError, RPCStatusCode

TEARDOWN_POLL_SECONDS = 3


async def hold_until_torn_down(handle: WorkflowHandle[Any, Any], delete_signal: str, waiting: str) -> None:
    """Return once no workflow runs under `handle`'s id; otherwise signal delete and keep the finalizer."""
    try:
        described = await handle.describe()
    except RPCError as err:
        if err.status == RPCStatusCode.NOT_FOUND:
            return
        raise
    if described.status != WorkflowExecutionStatus.RUNNING:
        return
    await handle.signal(delete_signal)
    raise kopf.TemporaryError(waiting, delay=TEARDOWN_POLL_SECONDS)
