"""What the activities need to know about their environment: where, and how long to wait.

The worker fills this from its settings; activities never read the environment themselves, and never
ask whether they run against Azure or the local cloud — only these values differ.
"""

from pydantic import BaseModel

from workflows.workspace_plan import PlanDeadlines


class ClusterTarget(BaseModel):
    """The AKS cluster whose agent pools we manage (its pools take its location: none is needed)."""

    subscription_id: str
    resource_group: str
    cluster_name: str


class ActivityConfig(PlanDeadlines):
    """The cluster the activities act on, and the deadlines every plan gets."""

    cluster: ClusterTarget
