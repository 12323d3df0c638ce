"""The validate activity: the plan, or a final WorkspaceInvalid (no retry turns a wrong spec right)."""

from temporalio import activity
from temporalio.exceptions import ApplicationError

from activities.config import ActivityConfig
from workflows.workspace_contracts import ActivityName, ProvisioningPlan
from workflows.workspace_plan import build_plan
from workflows.workspace_spec import Workspace
from workflows.workspace_validation import WorkspaceInvalid


class PlanningActivities:
    def __init__(self, config: ActivityConfig) -> None:
        self._config = config

    @activity.defn(name=ActivityName.VALIDATE)
    async def validate_workspace(self, ws: Workspace) -> ProvisioningPlan:
        """Invalid input is final: no retry turns a wrong spec into a right one."""
        try:
            return build_plan(ws, self._config)
        except WorkspaceInvalid as invalid:
            raise ApplicationError(str(invalid), type="WorkspaceInvalid", non_retryable=True) from None
