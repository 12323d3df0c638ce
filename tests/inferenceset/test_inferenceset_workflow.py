"""The InferenceSet workflow on the time-skipping server, its replicas real workspace workflows on the
fake cloud: one Workspace per replica, created one at a time; `replicas: 0` suspends them and scaling up
resumes the same Workspaces; scaling down removes a replica that is not Ready first; nodeCountLimit caps
the replicas; the autoscaling annotations get a condition; delete leaves no replica running."""

import asyncio
import re
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from temporalio.client import WorkflowExecutionStatus, WorkflowHandle
from temporalio.testing import WorkflowEnvironment

from tests.inferenceset.conftest import StatusRecorder, kaito_inferenceset, set_worker
from tests.waiting import wait_for_async
from tests.workflow.conftest import query_status
from tests.workflow.fakes import FakeCloud
from workflows.inferenceset_contracts import (
    CONDITION_AUTOSCALING,
    CONDITION_NODE_LIMIT,
    CONDITION_READY,
    CONDITION_SUSPENDED,
    STATUS_QUERY,
    CarriedReplicas,
    InferenceSetResult,
    InferenceSetStatus,
    SignalName,
)
from workflows.inferenceset_spec import LABEL_CREATED_BY, InferenceSet, parse_inferenceset, workflow_id_for
from workflows.inferenceset_workflow import CARRIED_MEMO, InferenceSetWorkflow
from workflows.workspace_contracts import ActivityName, Phase

Handle = WorkflowHandle[Any, Any]
QUERY_TIMEOUT = timedelta(seconds=5)


def phi_set(name: str = "phi-4-mini", replicas: int = 2, **spec: Any) -> InferenceSet:
    """KAITO's phi-4-mini InferenceSet example, with the test's replica count."""
    manifest = kaito_inferenceset("kaito_inferenceset_phi_4_mini.yaml")
    manifest["metadata"]["name"] = name
    manifest["spec"].update(replicas=replicas, **spec)
    return parse_inferenceset(manifest)


async def start(env: WorkflowEnvironment, task_queue: str, iset: InferenceSet) -> Handle:
    return await env.client.start_workflow(
        InferenceSetWorkflow.run, iset, id=workflow_id_for(iset.namespace, iset.name), task_queue=task_queue
    )


async def set_status(handle: Handle) -> InferenceSetStatus:
    async def ask() -> InferenceSetStatus:
        answer: InferenceSetStatus = await handle.query(
            STATUS_QUERY, result_type=InferenceSetStatus, rpc_timeout=QUERY_TIMEOUT
        )
        return answer

    return await wait_for_async(ask, f"{handle.id}'s status", timeout=60, tolerate=(Exception,))


async def written(recorder: StatusRecorder, expected: tuple[str, str, str]) -> None:
    """InferenceSetReady as written to the object: the write follows the query by one activity."""

    async def check() -> bool:
        return recorder.condition(CONDITION_READY) == expected

    await wait_for_async(
        check,
        f"InferenceSetReady {expected}",
        timeout=30,
        explain=lambda: repr(recorder.condition(CONDITION_READY)),
    )


async def until(
    handle: Handle, reached: Callable[[InferenceSetStatus], bool], what: str, timeout: float = 30.0
) -> InferenceSetStatus:
    last: list[InferenceSetStatus] = []

    async def check() -> InferenceSetStatus | None:
        status = await set_status(handle)
        last[:] = [status]
        return status if reached(status) else None

    return await wait_for_async(check, what, timeout=timeout, explain=lambda: repr(last))


def phases(status: InferenceSetStatus) -> dict[str, Phase | None]:
    return {r.name: r.phase for r in status.replicas}


def all_in(phase: Phase, count: int) -> Callable[[InferenceSetStatus], bool]:
    return lambda s: len(s.replicas) == count and all(r.phase == phase for r in s.replicas)


async def scale(handle: Handle, iset: InferenceSet, replicas: int) -> InferenceSet:
    """What `kubectl scale inferenceset … --replicas=N` becomes: the spec, changed, signalled."""
    changed = iset.model_copy(update={"spec": iset.spec.model_copy(update={"replicas": replicas})})
    await handle.signal(SignalName.SPEC_CHANGED, changed)
    return changed


async def test_replicas_come_up_one_at_a_time_then_zero_suspends_and_scaling_up_resumes(
    env: WorkflowEnvironment, cloud: FakeCloud
) -> None:
    cloud.auto = True
    recorder = StatusRecorder(cloud)
    iset = phi_set(replicas=2)
    async with set_worker(env.client, cloud, recorder) as task_queue:
        handle = await start(env, task_queue, iset)
        up = await until(handle, all_in(Phase.READY, 2), "two Ready replicas")
        names = sorted(phases(up))
        assert all(re.fullmatch(r"phi-4-mini-[bcdfghjklmnpqrstvwxz2456789]{5}", n) for n in names), names
        await written(recorder, ("True", "inferencesetReady", "inferenceset is ready"))
        last = recorder.writes[-1]
        assert (last.replicas, last.ready_replicas) == (2, 2)
        assert last.selector == f"{LABEL_CREATED_BY}=phi-4-mini"
        # KAITO's examples carry scaledobject.kaito.sh/* annotations: accepted, and said to be ignored.
        ignored = recorder.condition(CONDITION_AUTOSCALING)
        assert ignored and ignored[0] == "True" and "scaledobject.kaito.sh/threshold" in ignored[2]

        # One at a time: the second replica's first status comes after the first one's Ready.
        order = [(s.name, s.state) for s in cloud.statuses]
        first = next(name for name, _ in order)
        second = next(name for name in names if name != first)
        first_ready = order.index((first, "Ready"))
        assert all(order.index(entry) > first_ready for entry in order if entry[0] == second)
        # Each replica is a Workspace of the template, labelled as KAITO labels them.
        child = env.client.get_workflow_handle(f"workspace/default/{first}")
        shown = await query_status(child)
        assert shown.model == "phi-4-mini-instruct" and shown.instance_type == "Standard_NC24ads_A100_v4"

        iset = await scale(handle, iset, 0)
        down = await until(handle, all_in(Phase.SUSPENDED, 2), "both replicas suspended", timeout=60)
        assert sorted(phases(down)) == names, "suspended, not deleted"
        assert all(cloud.nodes[name] == 0 for name in names), "their pools at 0 nodes"
        assert cloud.calls.get(ActivityName.DELETE_AGENT_POOL, 0) == 0
        suspended = recorder.condition(CONDITION_SUSPENDED)
        assert suspended and suspended[:2] == ("True", "ScaledToZero")
        assert (recorder.writes[-1].replicas, recorder.writes[-1].ready_replicas) == (0, 0)

        iset = await scale(handle, iset, 1)
        one = await until(
            handle, lambda s: sorted(p for p in phases(s).values() if p) == [Phase.READY, Phase.SUSPENDED],
            "one replica resumed", timeout=60,
        )  # fmt: skip
        assert sorted(phases(one)) == names, "resumed the suspended Workspace, no new one"
        await written(recorder, ("True", "inferencesetReady", "inferenceset is ready"))

        iset = await scale(handle, iset, 2)
        both = await until(handle, all_in(Phase.READY, 2), "both resumed", timeout=60)
        assert sorted(phases(both)) == names
        assert cloud.calls[ActivityName.ENSURE_OBJECT] == 2, "two Workspaces in all, ever"

        await handle.signal(SignalName.DELETE)
        result = InferenceSetResult.model_validate(await handle.result())
        assert "deleted" in result.message
        for name in names:
            described = await env.client.get_workflow_handle(f"workspace/default/{name}").describe()
            assert described.status == WorkflowExecutionStatus.COMPLETED
        assert cloud.calls[ActivityName.DELETE_OBJECT] == 2
        assert all(cloud.nodes[name] == 0 for name in names) and not cloud.replicas


async def test_scaling_down_removes_the_replica_that_is_not_ready_first(
    env: WorkflowEnvironment, cloud: FakeCloud
) -> None:
    cloud.auto = True
    recorder = StatusRecorder(cloud)
    iset = phi_set(name="scaled", replicas=1)
    async with set_worker(env.client, cloud, recorder) as task_queue:
        handle = await start(env, task_queue, iset)
        (ready,) = phases(await until(handle, all_in(Phase.READY, 1), "one Ready replica"))
        # The second replica gets stuck loading its model.
        cloud.gates[ActivityName.ENSURE_INFERENCE] = asyncio.Event()
        iset = await scale(handle, iset, 2)
        stuck = await until(
            handle,
            lambda s: len(s.replicas) == 2 and Phase.DEPLOYING in phases(s).values(),
            "a second replica",
        )
        (coming,) = [name for name in phases(stuck) if name != ready]
        iset = await scale(handle, iset, 1)
        left = await until(handle, lambda s: list(phases(s)) == [ready], "the not-ready replica removed")
        assert phases(left) == {ready: Phase.READY}
        removed = await env.client.get_workflow_handle(f"workspace/default/{coming}").describe()
        assert removed.status == WorkflowExecutionStatus.COMPLETED
        cloud.gates[ActivityName.ENSURE_INFERENCE].set()
        await handle.signal(SignalName.DELETE)
        await handle.result()


async def test_node_count_limit_caps_the_replicas_and_says_so(
    env: WorkflowEnvironment, cloud: FakeCloud
) -> None:
    cloud.auto = True
    recorder = StatusRecorder(cloud)
    iset = phi_set(name="capped", replicas=3, nodeCountLimit=2)
    async with set_worker(env.client, cloud, recorder) as task_queue:
        handle = await start(env, task_queue, iset)
        capped = await until(handle, all_in(Phase.READY, 2), "two Ready replicas")
        assert capped.serving_limit == 2
        limited = recorder.condition(CONDITION_NODE_LIMIT)
        assert limited and limited[0] == "True"
        assert "nodeCountLimit 2 allows 2 replica(s) of 1 GPU node(s) each; 1 of the 3" in limited[2]
        await written(
            recorder, ("False", "inferencesetNotReady", "inferenceset is not ready, 2/3 replicas are ready")
        )
        # The third never starts, however long the set waits.
        await env.sleep(timedelta(hours=1))
        assert len((await set_status(handle)).replicas) == 2
        await handle.signal(SignalName.DELETE)
        await handle.result()
        assert cloud.calls[ActivityName.ENSURE_OBJECT] == 2


async def test_an_invalid_set_starts_no_replica_and_says_why(
    env: WorkflowEnvironment, cloud: FakeCloud
) -> None:
    recorder = StatusRecorder(cloud)
    manifest = kaito_inferenceset("kaito_inferenceset_phi_4_mini.yaml")
    manifest["spec"]["template"]["inference"]["preset"]["name"] = "phi-5-giant"
    async with set_worker(env.client, cloud, recorder) as task_queue:
        handle = await start(env, task_queue, parse_inferenceset(manifest))

        async def refused() -> tuple[str, str, str] | None:
            found = recorder.condition(CONDITION_READY)
            return found if found and found[1] == "InvalidSpec" else None

        status, _, message = await wait_for_async(refused, "the refusal in the status", timeout=30)
        assert (
            status == "False"
            and "spec.template.inference.preset.name" in message
            and "phi-5-giant" in message
        )
        assert not (await set_status(handle)).replicas
        assert cloud.calls.get(ActivityName.ENSURE_OBJECT, 0) == 0
        await handle.signal(SignalName.DELETE)
        await handle.result()


def one_ready_one_failed(status: InferenceSetStatus) -> bool:
    ended = [r.closed for r in status.replicas if r.closed]
    return len(status.replicas) == 2 and ended == ["Failed"] and Phase.READY in phases(status).values()


async def test_a_failed_replica_is_reported_and_removed_first(
    env: WorkflowEnvironment, cloud: FakeCloud
) -> None:
    cloud.auto = True
    # The second replica's pool is refused for good (a quota refusal would wait for capacity instead).
    cloud.pool_refused_on_call, cloud.pool_refusal = 2, "AuthorizationFailed"
    recorder = StatusRecorder(cloud)
    iset = phi_set(name="short", replicas=2)
    async with set_worker(env.client, cloud, recorder) as task_queue:
        handle = await start(env, task_queue, iset)
        shown = await until(
            handle,
            one_ready_one_failed,
            "one Ready replica and one failed",
        )  # fmt: skip
        (failed,) = [r.name for r in shown.replicas if r.closed]
        ready = recorder.condition(CONDITION_READY)
        assert ready and ready[:2] == ("False", "inferencesetNotReady")
        assert ready[2].startswith("inferenceset is not ready, 1/2 replicas are ready; ")
        assert f"{failed} failed: " in ready[2] and "no NCSv3 cores left" in ready[2]
        deleted_before = cloud.calls.get(ActivityName.DELETE_OBJECT, 0)

        iset = await scale(handle, iset, 1)
        left = await until(handle, lambda s: len(s.replicas) == 1, "the failed replica removed")
        assert left.replicas[0].name != failed and left.replicas[0].phase == Phase.READY
        assert cloud.calls[ActivityName.DELETE_OBJECT] == deleted_before + 1, "its Workspace object deleted"
        await handle.signal(SignalName.DELETE)
        await handle.result()


async def test_a_new_run_keeps_owning_the_replicas_it_carries(
    env: WorkflowEnvironment, cloud: FakeCloud
) -> None:
    """What continue-as-new relies on: the replicas outlive their parent's run (close policy ABANDON),
    and a run handed them in its memo carries on with them instead of creating new ones."""
    cloud.auto = True
    recorder = StatusRecorder(cloud)
    iset = phi_set(name="carried", replicas=2)
    async with set_worker(env.client, cloud, recorder) as task_queue:
        first = await start(env, task_queue, iset)
        owned = await until(first, all_in(Phase.READY, 2), "two Ready replicas")
        await first.terminate("the run ends; its replicas must not")
        for replica in owned.replicas:
            child = await env.client.get_workflow_handle(f"workspace/default/{replica.name}").describe()
            assert child.status == WorkflowExecutionStatus.RUNNING

        carried = CarriedReplicas(replicas=owned.replicas)
        second = await env.client.start_workflow(
            InferenceSetWorkflow.run, iset, id=workflow_id_for("default", "carried"), task_queue=task_queue,
            memo={CARRIED_MEMO: carried},
        )  # fmt: skip
        iset = await scale(second, iset, 0)
        down = await until(second, all_in(Phase.SUSPENDED, 2), "the carried replicas suspended", timeout=60)
        assert sorted(phases(down)) == sorted(phases(owned))
        assert cloud.calls[ActivityName.ENSURE_OBJECT] == 2, "no new replica"
        await second.signal(SignalName.DELETE)
        await second.result()
