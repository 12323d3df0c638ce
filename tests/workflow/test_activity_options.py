"""The activity-options table: a row for every activity a workflow on the provisioning queue starts."""

from workflows.activity_options import OPTIONS
from workflows.sweep_contracts import SweepActivity
from workflows.workspace_contracts import ActivityName


def test_every_activity_has_its_options() -> None:
    assert set(OPTIONS) == set(ActivityName) | set(SweepActivity)


def test_the_long_azure_pool_operations_heartbeat() -> None:
    pool_operations = {
        ActivityName.ENSURE_AGENT_POOL,
        ActivityName.SCALE_AGENT_POOL,
        ActivityName.DELETE_AGENT_POOL,
    }
    assert {name for name, options in OPTIONS.items() if options.heartbeat} == pool_operations
