"""The KAITO state and conditions each step of a workspace's life sets (`conditions.KaitoStatus`)."""

from datetime import UTC, datetime, timedelta

from temporalio.exceptions import ApplicationError

from controllers.handlers import invalid_status
from workflows import conditions as cond
from workflows.conditions import KaitoStatus
from workflows.workspace_contracts import AgentPoolState, Condition, NodeReadiness, Phase

START = datetime(2025, 3, 3, 9, 0, tzinfo=UTC)


class Clock:
    def __init__(self) -> None:
        self.now = START

    def __call__(self) -> datetime:
        return self.now

    def advance(self, minutes: int) -> datetime:
        self.now += timedelta(minutes=minutes)
        return self.now


def by_type(kaito: KaitoStatus) -> dict[str, Condition]:
    return {c.type: c for c in kaito.conditions()}


def reasons(kaito: KaitoStatus) -> dict[str, tuple[str, str]]:
    return {c.type: (c.status, c.reason) for c in kaito.conditions()}


def provisioned(clock: Clock) -> KaitoStatus:
    """Through every step of a first bring-up, each a few minutes after the last."""
    kaito = KaitoStatus(clock=clock)
    kaito.provisioning_started()
    clock.advance(5)
    kaito.pool_created(
        AgentPoolState(name="ws1a2b3c", provisioning_state="Succeeded", count=1, vm_size="NC12")
    )
    clock.advance(10)
    kaito.nodes_ready(NodeReadiness(ready=1, nodes=["aks-ws1a2b3c-0-vmss000000"]))
    clock.advance(5)
    kaito.serving("falcon-7b", "workspace-falcon-7b", "http://workspace-falcon-7b.default.svc:80")
    return kaito


def test_provisioning_starts_pending_with_every_kaito_condition_unknown() -> None:
    kaito = KaitoStatus(clock=Clock())
    kaito.provisioning_started()
    assert kaito.state == cond.STATE_PENDING
    assert reasons(kaito) == {
        type_: (cond.UNKNOWN, "workspacePending")
        for type_ in (
            cond.NODE_CLAIM_READY,
            cond.RESOURCE_READY,
            cond.INFERENCE_READY,
            cond.WORKSPACE_SUCCEEDED,
        )
    }


def test_a_bring_up_ends_ready_with_kaitos_success_reasons() -> None:
    kaito = provisioned(Clock())
    assert kaito.state == cond.STATE_READY
    assert reasons(kaito) == {
        cond.NODE_CLAIM_READY: (cond.TRUE, "NodeClaimsReady"),
        cond.RESOURCE_READY: (cond.TRUE, "workspaceResourceStatusSuccess"),
        cond.INFERENCE_READY: (cond.TRUE, "WorkspaceInferenceStatusSuccess"),
        cond.WORKSPACE_SUCCEEDED: (cond.TRUE, "workspaceSucceeded"),
        cond.NODES_READY: (cond.TRUE, "NodesReady"),
    }
    conditions = by_type(kaito)
    assert conditions[cond.NODE_CLAIM_READY].message == "agent pool ws1a2b3c: 1 × NC12 Succeeded"
    assert conditions[cond.NODES_READY].message == "1 node(s) Ready: aks-ws1a2b3c-0-vmss000000"
    assert (
        conditions[cond.WORKSPACE_SUCCEEDED].message == "serving at http://workspace-falcon-7b.default.svc:80"
    )


def test_last_transition_time_moves_only_when_the_status_changes() -> None:
    clock = Clock()
    kaito = provisioned(clock)
    ready_at = by_type(kaito)[cond.WORKSPACE_SUCCEEDED].last_transition_time
    assert by_type(kaito)[cond.NODE_CLAIM_READY].last_transition_time == START + timedelta(minutes=5)

    clock.advance(60)
    kaito.update_refused("resource.instanceType: immutable")
    refused = by_type(kaito)[cond.WORKSPACE_SUCCEEDED]
    assert (refused.status, refused.reason) == (cond.TRUE, "SpecUpdateRejected")
    assert refused.last_transition_time == ready_at, "still True: the transition time stays"
    assert "still serving the previous spec: resource.instanceType: immutable" in refused.message

    suspended_at = clock.advance(60)
    kaito.suspended(suspended_at, "idle")
    assert by_type(kaito)[cond.RESOURCE_READY].last_transition_time == suspended_at, "True → False moves it"


def test_suspend_and_resume() -> None:
    clock = Clock()
    kaito = provisioned(clock)
    since = clock.advance(120)
    kaito.suspended(since, "no inference requests for 30m")
    assert kaito.state == cond.STATE_SUSPENDED
    assert reasons(kaito)[cond.SUSPENDED] == (cond.TRUE, "ScaledToZero")
    assert reasons(kaito)[cond.RESOURCE_READY] == (cond.FALSE, "WorkspaceSuspended")
    assert reasons(kaito)[cond.INFERENCE_READY] == (cond.FALSE, "WorkspaceSuspended")
    assert by_type(kaito)[cond.SUSPENDED].message == (
        "since 2025-03-03T11:20:00+00:00: no inference requests for 30m; "
        "the first request to its Service wakes it (or `kaitoctl workspace resume`)"
    )

    kaito.resumed()
    assert reasons(kaito)[cond.SUSPENDED] == (cond.FALSE, "Resumed")


def test_a_failure_names_its_cause_and_the_step_that_failed() -> None:
    waiting = KaitoStatus(clock=Clock())
    waiting.provisioning_started()
    waiting.failed(Phase.WAITING_FOR_NODES, ApplicationError("gave up", type="DeadlineExceeded"))
    assert waiting.state == cond.STATE_FAILED
    assert reasons(waiting)[cond.WORKSPACE_SUCCEEDED] == (cond.FALSE, "DeadlineExceeded")
    assert reasons(waiting)[cond.RESOURCE_READY] == (cond.FALSE, "workspaceResourceStatusNotReady")
    assert reasons(waiting)[cond.INFERENCE_READY] == (cond.UNKNOWN, "workspacePending"), "not reached"

    health = KaitoStatus(clock=Clock())
    health.provisioning_started()
    health.failed(Phase.HEALTH_CHECKING, ApplicationError("no answer"))
    assert reasons(health)[cond.WORKSPACE_SUCCEEDED] == (cond.FALSE, "workspaceFailed"), "no type of its own"
    assert reasons(health)[cond.INFERENCE_READY] == (cond.FALSE, "WorkspaceInferenceStatusFailed")
    assert reasons(health)[cond.RESOURCE_READY] == (cond.UNKNOWN, "workspacePending")


def test_deleting() -> None:
    kaito = provisioned(Clock())
    kaito.deleting()
    assert kaito.state == cond.STATE_DELETING
    assert reasons(kaito)[cond.WORKSPACE_DELETING] == (cond.TRUE, "workspaceDeleted")


def test_messages_are_never_cut_before_their_numbers_only_at_the_crds_limit() -> None:
    kaito = KaitoStatus(clock=Clock())
    kaito.failed(Phase.VALIDATING, ApplicationError("x" * 300, type="WorkspaceInvalid"))
    assert len(by_type(kaito)[cond.WORKSPACE_SUCCEEDED].message) == 300, "a long message is kept whole"
    kaito.failed(Phase.VALIDATING, ApplicationError("x" * 40000, type="WorkspaceInvalid"))
    assert len(by_type(kaito)[cond.WORKSPACE_SUCCEEDED].message) == cond.MAX_MESSAGE == 32768


def test_the_controllers_refusal_is_a_kubernetes_status_patch() -> None:
    patch = invalid_status("inference.preset.name: unknown preset 'falcon-9b'" + "!" * 300)
    assert patch["state"] == cond.STATE_FAILED
    [condition] = patch["conditions"]
    assert condition["type"] == cond.WORKSPACE_SUCCEEDED
    assert (condition["status"], condition["reason"]) == (cond.FALSE, "WorkspaceInvalid")
    assert condition["message"].startswith("inference.preset.name: unknown preset 'falcon-9b'")
    assert condition["message"].endswith("!" * 300), "kept whole"
    assert condition["lastTransitionTime"].endswith("Z") and "observedGeneration" not in condition
