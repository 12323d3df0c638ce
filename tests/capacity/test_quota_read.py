"""The quota read before the PUT, through the real SDKs on the emulator (issue 17.1), and Spot pools.

`ComputeManagementClient.usage.list` reads the emulated `Microsoft.Compute/locations/{loc}/usages`
(ARM's shape, vCPUs); `check_capacity` turns it into the report the workflow decides on; AKS's Spot
rules and an eviction are the emulator's.
"""

from collections.abc import AsyncIterator
from datetime import timedelta

import pytest
from azure.core.exceptions import HttpResponseError
from azure.identity.aio import ClientSecretCredential
from azure.mgmt.compute.aio import ComputeManagementClient
from azure.mgmt.containerservice.aio import ContainerServiceClient
from azure.mgmt.containerservice.models import AgentPool

from activities.capacity import CapacityActivities
from activities.config import ActivityConfig, ClusterTarget
from localcloud.azure import AzureEmulator, spot
from tests.azure_fixtures import aks, emulator, emulator_config, issuer, make_arm, operator_credential
from workflows.workspace_contracts import CapacityRequest, ProvisioningPlan

__all__ = ["aks", "emulator", "emulator_config", "issuer", "make_arm", "operator_credential"]

FAMILY = "standardNCSv3Family"


@pytest.fixture
async def compute(
    emulator: AzureEmulator, operator_credential: ClientSecretCredential
) -> AsyncIterator[ComputeManagementClient]:
    client = ComputeManagementClient(
        operator_credential, emulator.config.subscription_id, **emulator.client_kwargs()
    )
    yield client
    await client.close()


def plan(count: int = 1, name: str = "wsquota") -> ProvisioningPlan:
    return ProvisioningPlan(
        namespace="default", name=name, api_version="kaito.sh/v1beta1", model="falcon-7b", hf_repo="x",
        hf_revision="main", served_model_name="falcon-7b", image="img", runtime="vllm",
        instance_type="Standard_NC12s_v3", gpus_per_node=2, node_count=count, agent_pool=name,
        os_disk_gb=100, match_labels={}, node_ready_timeout=timedelta(minutes=30),
        inference_ready_timeout=timedelta(minutes=30),
    )  # fmt: skip


def capacity(
    emulator: AzureEmulator, compute: ComputeManagementClient, aks: ContainerServiceClient
) -> CapacityActivities:
    seed = emulator.config.clusters[0]
    config = ActivityConfig(
        cluster=ClusterTarget(
            subscription_id=emulator.config.subscription_id,
            resource_group=seed.resource_group,
            cluster_name=seed.name,
        ),
        node_ready_timeout=timedelta(minutes=30),
        inference_ready_timeout=timedelta(minutes=30),
    )

    class NoQueue(CapacityActivities):  # no Temporal here: nobody waits
        async def waiters(self, family: str) -> list:  # type: ignore[type-arg]
            return []

    return NoQueue(config, compute, aks)


async def put(
    aks: ContainerServiceClient, emulator: AzureEmulator, name: str, count: int, **extra: object
) -> AgentPool:
    seed = emulator.config.clusters[0]
    body = {"properties": {"vmSize": "Standard_NC12s_v3", "count": count, "mode": "User", **extra}}
    poller = await aks.agent_pools.begin_create_or_update(
        seed.resource_group, seed.name, name, AgentPool(body)
    )
    return await poller.result()


async def test_usages_have_arms_shape_and_count_the_pools(
    emulator: AzureEmulator, compute: ComputeManagementClient, aks: ContainerServiceClient
) -> None:
    emulator.config.family_quotas[FAMILY] = 36
    await put(aks, emulator, "gpua", 2)
    usages = {u.name.value: u async for u in compute.usage.list("eastus")}
    assert (usages[FAMILY].current_value, usages[FAMILY].limit, usages[FAMILY].unit) == (24, 36, "Count")
    assert usages["cores"].current_value >= 24, "the region's total comes first, as ARM lists it"
    with pytest.raises(HttpResponseError) as elsewhere:
        _ = [u async for u in compute.usage.list("westeurope")]
    assert elsewhere.value.status_code == 400


async def test_the_report_says_no_room_and_names_a_size_that_has_it(
    emulator: AzureEmulator, compute: ComputeManagementClient, aks: ContainerServiceClient
) -> None:
    emulator.config.family_quotas[FAMILY] = 36
    await put(aks, emulator, "gpua", 2)  # 24 of 36 in use
    activities = capacity(emulator, compute, aks)
    fits = await activities.check_capacity(CapacityRequest(plan=plan(1), workflow_id="w"))
    assert fits.fits and (fits.family, fits.limit, fits.usage, fits.needed) == (FAMILY, 36, 24, 12)
    short = await activities.check_capacity(CapacityRequest(plan=plan(2), workflow_id="w"))
    assert not short.fits and short.needed == 24 and short.free == 12
    assert short.alternative is not None and short.alternative.free >= short.alternative.cores
    own = await activities.check_capacity(CapacityRequest(plan=plan(2, name="gpua"), workflow_id="w"))
    assert own.needed == 0 and own.fits, "the cores a workspace's own pool holds are not asked again"


async def test_spot_pools_get_akss_defaults_and_can_be_evicted(
    emulator: AzureEmulator, aks: ContainerServiceClient
) -> None:
    pool = await put(aks, emulator, "spota", 1, scaleSetPriority="Spot")
    props = pool.properties
    assert props is not None
    assert (props.scale_set_priority, props.scale_set_eviction_policy, props.spot_max_price) == (
        "Spot",
        "Delete",
        -1,
    )
    with pytest.raises(HttpResponseError) as changed:
        await put(aks, emulator, "spota", 1, scaleSetPriority="Regular")
    assert changed.value.error is not None and changed.value.error.code == "PropertyChangeNotAllowed"
    with pytest.raises(HttpResponseError) as bad_price:
        await put(aks, emulator, "spotb", 1, scaleSetPriority="Spot", spotMaxPrice=0)
    assert "spotMaxPrice" in str(bad_price.value)
    spot.evict(emulator.cloud, "spota")
    seed = emulator.config.clusters[0]
    evicted = await aks.agent_pools.get(seed.resource_group, seed.name, "spota")
    assert evicted.properties is not None and evicted.properties.count == 0
    assert [p.node_count for p in emulator.agent_pools() if p.name == "spota"] == [0]
