"""A local Azure: the ARM (AKS agent pools and clusters, managed identities, role assignments) and Entra
(token endpoint with workload-identity federation) endpoints this project calls, served over HTTPS for the
real Azure SDK clients. Nothing in workflows/ or activities/ imports it; configuration points them here.
"""

from localcloud.azure.config import ClusterSeed, EmulatorConfig, OperationDurations
from localcloud.azure.events import PoolEvent, PoolSnapshot
from localcloud.azure.faults import FaultPlan, FaultRule
from localcloud.azure.launcher import AzureEmulatorProcess
from localcloud.azure.sdk_kwargs import ARM_SCOPE
from localcloud.azure.server import AzureEmulator

__all__ = [
    "ARM_SCOPE",
    "AzureEmulator",
    "AzureEmulatorProcess",
    "ClusterSeed",
    "EmulatorConfig",
    "FaultPlan",
    "FaultRule",
    "OperationDurations",
    "PoolEvent",
    "PoolSnapshot",
]
