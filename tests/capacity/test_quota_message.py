"""The quota refusal as users read it: every number, the fix, the code once, nothing cut (issue 11.5).

The refusal is the emulator's own (AKS's preflight text), classified as the agent-pool activity does,
wrapped once by the workflow's step and put in a condition by `KaitoStatus`: the whole chain a
QuotaExceeded travels before kubectl shows it.
"""

import json
from datetime import UTC, datetime

import pytest
from azure.core.exceptions import HttpResponseError
from temporalio.exceptions import ApplicationError

from activities.azure_errors import classify, quota_shortfall
from localcloud.azure.errors import ArmError
from localcloud.azure.poolrules import check_quota, validate
from workflows import conditions as cond
from workflows.workspace_contracts import Phase
from workflows.workspace_steps import cause_of


class _Response:
    """What azure-core's HttpResponseError reads from a response: status, reason, the JSON body."""

    def __init__(self, status: int, body: bytes) -> None:
        self.status_code, self.reason, self._body = status, "Bad Request", body
        self.headers: dict[str, str] = {}
        self.content_type = "application/json"
        self.request = None

    def text(self, encoding: str | None = None) -> str:
        return self._body.decode()

    def body(self) -> bytes:
        return self._body


def emulator_refusal() -> HttpResponseError:
    spec = validate(
        "wsquota",
        {"properties": {"vmSize": "Standard_NC12s_v3", "count": 2}},
        existing=None,
        location="eastus",
        kubernetes_version="1.33.2",
        allowed_sizes=None,
        other_system_pools=1,
    )
    used = {"id": "/other", "properties": {"vmSize": "Standard_NC24s_v3", "count": 1}}
    with pytest.raises(ArmError) as refused:
        check_quota(
            spec, pool_id="/wsquota", cluster="kaito-aks", node_resource_group="MC_kaito-rg_kaito-aks_eastus",
            location="eastus", pools=[used], quotas={"standardNCSv3Family": 36}, default_quota=0,
        )  # fmt: skip
    arm = refused.value
    assert isinstance(arm, ArmError)
    body = json.dumps(arm.body()).encode()
    return HttpResponseError(response=_Response(400, body))


def test_the_numbers_are_read_out_of_arms_message() -> None:
    shortfall = quota_shortfall(str(emulator_refusal().message))
    assert shortfall is not None
    assert (shortfall.family, shortfall.location) == ("standardNCSv3Family", "eastus")
    assert (shortfall.limit, shortfall.usage, shortfall.required) == (36, 24, 24)


def test_the_condition_says_the_cause_once_and_the_context_once_never_cut() -> None:
    activity_error = classify(emulator_refusal(), "put agent pool wsquota (2 × Standard_NC12s_v3)")
    assert activity_error.type == "QuotaExceeded" and activity_error.non_retryable
    step = ApplicationError(
        f"create 2 × Standard_NC12s_v3 as agent pool wsquota: {cause_of(activity_error)}",
        type=activity_error.type,
    )
    status = cond.KaitoStatus(clock=lambda: datetime.now(UTC))
    status.failed(Phase.CREATING_NODE_POOL, step)
    condition = next(c for c in status.conditions() if c.type == cond.WORKSPACE_SUCCEEDED)
    message = condition.message
    assert condition.reason == "QuotaExceeded"
    assert "QuotaExceeded" not in message, "the code is the reason, never in the text"
    assert message.count("wsquota") == 1, "the context once (not the step's and the activity's)"
    for numbers in ("standardNCSv3Family", "eastus", "is 36 vCPUs", "24 are in use", "24 more are requested"):
        assert numbers in message, (numbers, message)
    assert message.endswith("(Azure portal: Quotas, Compute)"), "the fix is there, nothing cut"
    assert "Preflight validation" not in message, "ARM's boilerplate replaced by its numbers"
