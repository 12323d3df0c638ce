"""The agent-pool scale activity's name and input (suspend scales to 0, resume back to the plan's count).

Kept apart from `workflows.contracts` so the activity can ship before the workflow calls it; the workflow
calls it by this name, with this model, like every other activity.
"""

from pydantic import BaseModel, Field

from workflows.contracts import ProvisioningPlan

SCALE_AGENT_POOL = "scale_agent_pool"


class PoolScale(BaseModel):
    """Scale the workspace's GPU pool to `count` nodes (0 stops paying for the VMs, keeps the pool)."""

    plan: ProvisioningPlan
    count: int = Field(ge=0, le=1000)
