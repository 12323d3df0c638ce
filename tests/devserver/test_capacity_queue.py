"""First come, first served as pools are deleted, on the real dev server.

Each freed pool makes its workflow signal the waiters of the family from an activity, so signals reach
workflows whose tasks are in flight; the real server buffers them as it must (the time-skipping test
server does not always). The region is the workflow tests' fake; the workflow, the queue arithmetic and
the notices are the real ones.
"""

from temporalio.testing import WorkflowEnvironment

from tests.workflow.conftest import running_worker, wait_for_status
from tests.workflow.fakes import FakeCloud
from tests.workflow.test_capacity_wait import FAMILY, falcon, ready, waiting
from tests.workflow.test_workspace_workflow import start
from workflows.workspace_contracts import Phase, SignalName


async def test_waiters_are_served_first_come_first_served_as_pools_are_deleted(
    dev_server: WorkflowEnvironment,
) -> None:
    env = dev_server
    cloud = FakeCloud(auto=True, quotas={FAMILY: 12})  # room for one Standard_NC12s_v3 pool
    async with running_worker(env.client, cloud) as tq:
        first = await start(env, tq, falcon("first"))
        await ready(first)
        second = await start(env, tq, falcon("second"))
        await wait_for_status(second, waiting, "second waits")
        third = await start(env, tq, falcon("third"))
        status = await wait_for_status(third, waiting, "third waits")
        assert "place 2" in status.message and "12 vCPUs wanted ahead" in status.message, status.message

        await first.signal(SignalName.DELETE)
        await first.result()
        await ready(second)
        status = await wait_for_status(
            third, lambda s: waiting(s) and "place 1" in s.message, "third moves up"
        )
        assert status.phase == Phase.WAITING_FOR_CAPACITY, "third waits behind second"

        await second.signal(SignalName.DELETE)
        await second.result()
        await ready(third)
        await third.signal(SignalName.DELETE)
        await third.result()
    assert [name for name, count in cloud.pool_counts if count > 0] == ["first", "second", "third"]
