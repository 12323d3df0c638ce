"""Turning cluster observations into workflow signals, sent only when they change.

Signals carry absolute counts, so a duplicate is harmless; sending only changes keeps the workflow's
history short even though kwok and kubelets report node status every few seconds. After a restart the
last-sent memory is empty, so each workspace gets one fresh signal: the workflow's reconcile covers
anything missed in between.
"""

import logging
from typing import Any

from pydantic import BaseModel
from temporalio.client import Client
from temporalio.service import RPCError, RPCStatusCode

from workflows.workspace_spec import workflow_id_for

log = logging.getLogger("kaito.controllers")


class SignalSender:
    def __init__(self, client: Client) -> None:
        self._client = client
        self._last: dict[tuple[str, str, str], str] = {}

    async def send(self, namespace: str, name: str, signal: str, payload: BaseModel, key: Any) -> bool:
        """Signal the running workspace workflow unless `key` equals what it was last told."""
        memo_key = (namespace, name, signal)
        fingerprint = repr(key)
        if self._last.get(memo_key) == fingerprint:
            return False
        try:
            await self._client.get_workflow_handle(workflow_id_for(namespace, name)).signal(signal, payload)
        except RPCError as err:
            if err.status == RPCStatusCode.NOT_FOUND:
                log.debug("no running workflow for %s/%s; %s dropped", namespace, name, signal)
                return False
            raise
        self._last[memo_key] = fingerprint
        return True

    def forget(self, namespace: str, name: str) -> None:
        for key in [k for k in self._last if k[:2] == (namespace, name)]:
            del self._last[key]


# Container states that mean the model server is not serving, worst first; the last termination's reason
# (OOMKilled, Error) says why a crash loop loops.
FAILING_WAITING = ("CrashLoopBackOff", "ImagePullBackOff", "ErrImagePull", "CreateContainerError")


def pod_problem(pod: dict[str, Any]) -> tuple[str, str] | None:
    """(reason, message) when an inference pod's container is crash-looping, was OOM-killed or cannot
    start; None when it runs (or has not started yet, which the readiness wait covers)."""
    for status in (pod.get("status") or {}).get("containerStatuses") or []:
        name, restarts = status.get("name", "?"), int(status.get("restartCount") or 0)
        waiting = (status.get("state") or {}).get("waiting") or {}
        last = (status.get("lastState") or {}).get("terminated") or {}
        terminated = (status.get("state") or {}).get("terminated") or {}
        detail = f"container {name} restarted {restarts} time(s)"
        if last.get("reason"):
            detail += f", last exit {last.get('reason')} (code {last.get('exitCode')})"
        if terminated.get("reason") == "OOMKilled" or (
            last.get("reason") == "OOMKilled" and not status.get("ready")
        ):
            return (
                "OOMKilled",
                f"{detail}: out of memory; give the model more GPU memory or a smaller context",
            )
        if waiting.get("reason") in FAILING_WAITING:
            text = waiting.get("message") or ""
            return str(waiting["reason"]), f"{detail}{': ' + text if text else ''}"
    return None
