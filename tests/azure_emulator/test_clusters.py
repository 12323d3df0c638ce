"""managedClusters: the seeded cluster, enabling the OIDC issuer + workload identity as a long-running
operation, and the refusals around it."""

from __future__ import annotations

import pytest
from azure.core.exceptions import HttpResponseError, ResourceExistsError
from azure.mgmt.containerservice import models
from azure.mgmt.containerservice.aio import ContainerServiceClient

from localcloud.azure import AzureEmulator
from tests.azure_emulator.helpers import CLUSTER, GPU_SIZE, RG, agent_pool, snapshot
from tests.azure_emulator.oidc_issuer import TestIssuer


async def test_seeded_cluster(emulator: AzureEmulator, aks: ContainerServiceClient) -> None:
    cluster = await aks.managed_clusters.get(RG, CLUSTER)
    assert cluster.provisioning_state == "Succeeded"
    assert cluster.oidc_issuer_profile is not None and not cluster.oidc_issuer_profile.enabled
    assert cluster.oidc_issuer_profile.issuer_url is None
    assert [p.name for p in cluster.agent_pool_profiles or []] == ["nodepool1"]
    names = [c.name async for c in aks.managed_clusters.list_by_resource_group(RG)]
    assert names == [CLUSTER]


async def test_enable_oidc_issuer_and_workload_identity(
    emulator: AzureEmulator, aks: ContainerServiceClient, issuer: TestIssuer
) -> None:
    emulator.config.durations.cluster_update = 1.0
    cluster = await aks.managed_clusters.get(RG, CLUSTER)
    cluster.oidc_issuer_profile = models.ManagedClusterOIDCIssuerProfile(enabled=True)
    cluster.security_profile = models.ManagedClusterSecurityProfile(
        workload_identity=models.ManagedClusterSecurityProfileWorkloadIdentity(enabled=True)
    )
    poller = await aks.managed_clusters.begin_create_or_update(RG, CLUSTER, cluster)
    during = await aks.managed_clusters.get(RG, CLUSTER)
    assert during.provisioning_state == "Updating"
    assert during.oidc_issuer_profile is not None and during.oidc_issuer_profile.issuer_url is None

    # a pool change while the cluster is updating is refused, as AKS does
    with pytest.raises(ResourceExistsError) as err:
        await aks.agent_pools.begin_create_or_update(RG, CLUSTER, "gpu", agent_pool(1))
    assert err.value.error is not None and err.value.error.code == "OperationNotAllowed"

    done = await poller.result()
    assert done.provisioning_state == "Succeeded"
    assert done.oidc_issuer_profile is not None and done.oidc_issuer_profile.issuer_url == issuer.url
    assert done.security_profile is not None and done.security_profile.workload_identity is not None
    assert done.security_profile.workload_identity.enabled is True

    # idempotent: the same PUT again is another successful update
    again = await (await aks.managed_clusters.begin_create_or_update(RG, CLUSTER, done)).result()
    assert again.oidc_issuer_profile is not None and again.oidc_issuer_profile.issuer_url == issuer.url


async def test_cluster_refusals_change_nothing(emulator: AzureEmulator, aks: ContainerServiceClient) -> None:
    cluster = await aks.managed_clusters.get(RG, CLUSTER)
    before = snapshot(emulator)

    async def code_of(body: models.ManagedCluster) -> tuple[int, str]:
        with pytest.raises(HttpResponseError) as err:
            await aks.managed_clusters.begin_create_or_update(RG, CLUSTER, body)
        assert err.value.error is not None
        return err.value.status_code or 0, str(err.value.error.code)

    cluster.security_profile = models.ManagedClusterSecurityProfile(
        workload_identity=models.ManagedClusterSecurityProfileWorkloadIdentity(enabled=True)
    )
    assert await code_of(cluster) == (400, "InvalidParameter")  # workload identity needs the OIDC issuer

    cluster = await aks.managed_clusters.get(RG, CLUSTER)
    cluster.agent_pool_profiles = [
        *(cluster.agent_pool_profiles or []),
        models.ManagedClusterAgentPoolProfile(name="sneaky", vm_size=GPU_SIZE, count=1, mode="User"),
    ]
    assert await code_of(cluster) == (400, "BadRequest")  # pools are added through agentPools only

    cluster = await aks.managed_clusters.get(RG, CLUSTER)
    cluster.location = "westeurope"
    assert await code_of(cluster) == (409, "InvalidResourceLocation")
    assert snapshot(emulator) == before

    cluster = await aks.managed_clusters.get(RG, CLUSTER)
    cluster.oidc_issuer_profile = models.ManagedClusterOIDCIssuerProfile(enabled=True)
    await (await aks.managed_clusters.begin_create_or_update(RG, CLUSTER, cluster)).result()
    cluster = await aks.managed_clusters.get(RG, CLUSTER)
    cluster.oidc_issuer_profile = models.ManagedClusterOIDCIssuerProfile(enabled=False)
    after_enable = snapshot(emulator)
    assert await code_of(cluster) == (400, "BadRequest")  # the issuer cannot be turned off again
    assert snapshot(emulator) == after_enable
