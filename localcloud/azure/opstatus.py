"""The polling endpoints of AKS operations: `operations/{id}` (Azure-AsyncOperation) and
`operationresults/{id}` (Location).

Status is always HTTP 200 with {"name","status","startTime"[,"endTime"][,"error"]}; Retry-After (>= 1) is
sent while the operation runs, never on a terminal status.
"""

from __future__ import annotations

from aiohttp import web

from localcloud.azure.context import ArmCall, arm_json
from localcloud.azure.errors import ArmError
from localcloud.azure.operations import TERMINAL, Operation


def _find(call: ArmCall) -> Operation:
    call.cloud.check_subscription(call.param("sub"))
    op = call.cloud.ops.get(call.param("op"))
    if op is None or op.subscription_id.lower() != call.param("sub").lower():
        raise ArmError(404, "NotFound", f"Operation {call.param('op')} was not found.", shape="aks")
    return op


def _running_headers(call: ArmCall, op: Operation) -> dict[str, str]:
    return {} if op.status in TERMINAL else call.cloud.poll_headers(op)


async def operation_status(call: ArmCall) -> web.Response:
    op = _find(call)
    return arm_json(op.status_body(), 200, _running_headers(call, op))


async def operation_result(call: ArmCall) -> web.Response:
    """RPC Location semantics: 202 while running, 204 when done, the operation's error when it failed."""
    op = _find(call)
    if op.status not in TERMINAL:
        _, location = call.cloud.operation_urls(op)
        return web.Response(status=202, headers={"Location": location, **_running_headers(call, op)})
    if op.status == "Succeeded":
        return web.Response(status=204)
    error = op.outcome_error or {"code": op.status, "message": f"The operation ended {op.status}."}
    return arm_json({"error": error}, 400)
