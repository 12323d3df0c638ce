"""What the activities need to know about their environment: where, and how long to wait.

The worker fills this from its settings; activities never read the environment themselves, and never
ask whether they run against Azure or the local cloud — only these values differ.
"""

from datetime import timedelta

from pydantic import BaseModel


class ClusterTarget(BaseModel):
    """The AKS cluster whose agent pools we manage."""

    subscription_id: str
    resource_group: str
    cluster_name: str
    location: str = "eastus"


class ActivityConfig(BaseModel):
    cluster: ClusterTarget
    node_ready_timeout: timedelta = timedelta(minutes=30)
    inference_ready_timeout: timedelta | None = None  # None: the preset's readiness timeout
