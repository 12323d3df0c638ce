"""Fault injection, each kind through the real SDK and its retry policy: 429 bursts, 5xx, dropped
connections (before and after the request took effect), failing LROs, latency, ARM's rate limit; the
control endpoint; reproducibility from a seed."""

from __future__ import annotations

import time
from typing import Any

import pytest
from azure.core.exceptions import HttpResponseError, ResourceExistsError
from azure.mgmt.containerservice import models
from azure.mgmt.containerservice.aio import ContainerServiceClient

from localcloud.azure import ARM_SCOPE, AzureEmulator, PoolEvent
from localcloud.azure.faults import FaultInjector, FaultPlan, FaultRule
from tests.azure_emulator.helpers import CLUSTER, RG, agent_pool, control
from tests.waiting import wait_for_async


def _pool(count: int = 1) -> models.AgentPool:
    return agent_pool(count)


async def _faults(emulator: AzureEmulator, method: str, body: Any = None) -> tuple[int, Any]:
    return await control(emulator.base_url, str(emulator.ca_file), method, "/_emulator/faults", body)


def _statuses(emulator: AzureEmulator, op: str) -> list[int]:
    return [e.status for e in emulator.requests(op=op)]


async def test_429_burst_is_honoured_by_the_retry_policy(
    emulator: AzureEmulator, aks: ContainerServiceClient
) -> None:
    status, _ = await _faults(
        emulator, "POST", {"match": "agentPools.get", "throttle_count": 2, "retry_after": 1}
    )
    assert status == 200
    headers: list[dict[str, str]] = []
    started = time.monotonic()
    pool = await aks.agent_pools.get(
        RG, CLUSTER, "nodepool1", raw_response_hook=lambda r: headers.append(dict(r.http_response.headers))
    )
    assert pool.name == "nodepool1"
    assert time.monotonic() - started >= 2.0, "two Retry-After: 1 waits"
    assert _statuses(emulator, "agentPools.get") == [429, 429, 200]
    assert headers[0]["Retry-After"] == "1"
    assert any(k.lower().startswith("x-ms-ratelimit-remaining-subscription") for k in headers[0])
    _, plan = await _faults(emulator, "GET")
    assert plan["injected"] == {"throttle": 2} and plan["rules"][0]["throttle_count"] == 0


async def test_persistent_429_exhausts_the_retries(
    emulator: AzureEmulator, aks: ContainerServiceClient
) -> None:
    emulator.add_fault({"match": "managedClusters.get", "throttle_rate": 1.0, "retry_after": 1})
    with pytest.raises(HttpResponseError) as err:
        await aks.managed_clusters.get(RG, CLUSTER, retry_total=2)
    assert err.value.status_code == 429 and err.value.error is not None
    assert err.value.error.code == "TooManyRequests"
    assert _statuses(emulator, "managedClusters.get") == [429, 429, 429]


async def test_5xx_are_retried(emulator: AzureEmulator, aks: ContainerServiceClient) -> None:
    emulator.add_fault({"match": "agentPools.put", "error_count": 1, "error_status": 503})
    emulator.add_fault({"match": "operations.get", "error_count": 1, "error_status": 500})
    pool = await (await aks.agent_pools.begin_create_or_update(RG, CLUSTER, "gpu", _pool())).result()
    assert pool.provisioning_state == "Succeeded"
    assert _statuses(emulator, "agentPools.put") == [503, 201]
    assert _statuses(emulator, "operations.get")[:2] == [500, 200]


async def test_injected_error_with_an_arm_code(emulator: AzureEmulator, aks: ContainerServiceClient) -> None:
    """An injected error can carry a specific ARM code and message (e.g. a 400 only Azure's timing causes)."""
    emulator.add_fault(
        {
            "match": "agentPools.get",
            "error_count": 1,
            "error_status": 400,
            "error_code": "PrincipalNotFound",
            "error_message": "Principal does not exist in the directory.",
        }
    )
    with pytest.raises(HttpResponseError) as err:
        await aks.agent_pools.get(RG, CLUSTER, "nodepool1")
    assert (err.value.status_code, err.value.error and err.value.error.code) == (400, "PrincipalNotFound")
    assert "does not exist in the directory" in str(err.value.message)
    assert _statuses(emulator, "agentPools.get") == [400], "a 400 without Retry-After is not re-sent"
    assert (await aks.agent_pools.get(RG, CLUSTER, "nodepool1")).name == "nodepool1"


async def test_dropped_connection_is_retried(emulator: AzureEmulator, aks: ContainerServiceClient) -> None:
    emulator.add_fault({"match": "agentPools.get", "drop_count": 1})
    pool = await aks.agent_pools.get(RG, CLUSTER, "nodepool1")
    assert pool.name == "nodepool1"
    assert _statuses(emulator, "agentPools.get") == [-1, 200]


async def test_response_lost_after_the_put_took_effect(
    emulator: AzureEmulator, aks: ContainerServiceClient
) -> None:
    """The nasty case: the PUT started the operation, its answer was lost, the SDK re-sent it and met the
    operation it had itself started (409). Callers must treat that as 'in progress', then converge."""
    emulator.config.durations.pool_create = 1.0
    emulator.add_fault({"match": "agentPools.put", "drop_count": 1, "drop_after": True})
    with pytest.raises(ResourceExistsError) as err:
        await aks.agent_pools.begin_create_or_update(RG, CLUSTER, "gpu", _pool())
    assert err.value.error is not None and err.value.error.code == "OperationNotAllowed"
    assert _statuses(emulator, "agentPools.put") == [-1, 409]
    lost = emulator.requests(op="agentPools.put")[0]
    assert (lost.fault, lost.dropped_status) == ("drop_after", 201), "the log keeps what the lost answer was"

    async def succeeded() -> bool:
        return bool((await aks.agent_pools.get(RG, CLUSTER, "gpu")).provisioning_state == "Succeeded")

    await wait_for_async(succeeded, "the pool the lost PUT created", timeout=10)


async def test_lro_fails_once_then_succeeds(emulator: AzureEmulator, aks: ContainerServiceClient) -> None:
    events: list[PoolEvent] = []
    emulator.add_pool_listener(events.append)
    emulator.add_fault(
        {
            "match": "agentPools.put",
            "lro_fail_count": 1,
            "lro_fail_code": "VMExtensionProvisioningError",
            "lro_fail_message": "VM has reported a failure when processing extension 'vmssCSE'.",
        }
    )
    poller = await aks.agent_pools.begin_create_or_update(RG, CLUSTER, "gpu", _pool(2))
    with pytest.raises(HttpResponseError) as err:
        await poller.result()
    assert err.value.error is not None and err.value.error.code == "VMExtensionProvisioningError"
    assert (await aks.agent_pools.get(RG, CLUSTER, "gpu")).provisioning_state == "Failed"
    assert [e.kind for e in events] == ["provisioning", "failed"]

    retried = await (await aks.agent_pools.begin_create_or_update(RG, CLUSTER, "gpu", _pool(2))).result()
    assert (retried.provisioning_state, retried.count) == ("Succeeded", 2)
    assert [e.kind for e in events][-1] == "succeeded"


async def test_canceled_delete(emulator: AzureEmulator, aks: ContainerServiceClient) -> None:
    await (await aks.agent_pools.begin_create_or_update(RG, CLUSTER, "gpu", _pool())).result()
    emulator.add_fault(
        {
            "match": "agentPools.delete",
            "lro_fail_count": 1,
            "lro_fail_status": "Canceled",
            "lro_fail_code": "OperationCanceled",
        }
    )
    with pytest.raises(HttpResponseError) as err:
        await (await aks.agent_pools.begin_delete(RG, CLUSTER, "gpu")).result()
    assert err.value.error is not None and err.value.error.code == "OperationCanceled"
    assert (await aks.agent_pools.get(RG, CLUSTER, "gpu")).provisioning_state == "Canceled"
    await (await aks.agent_pools.begin_delete(RG, CLUSTER, "gpu")).result()


async def test_added_latency(emulator: AzureEmulator, aks: ContainerServiceClient) -> None:
    emulator.add_fault({"match": "managedClusters.get", "latency_ms": 300})
    started = time.monotonic()
    await aks.managed_clusters.get(RG, CLUSTER)
    assert time.monotonic() - started >= 0.3
    assert emulator.requests(op="managedClusters.get")[0].duration_ms >= 300


async def test_token_endpoint_5xx_is_retried(emulator: AzureEmulator) -> None:
    emulator.add_fault({"match": "token.post", "error_count": 1, "error_status": 503})
    async with emulator.operator_credential() as cred:
        assert (await cred.get_token(ARM_SCOPE)).token
    assert _statuses(emulator, "token.post") == [503, 200]


async def test_rate_limit_bucket(
    emulator: AzureEmulator, aks: ContainerServiceClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    from localcloud.azure import ratelimit

    monkeypatch.setitem(ratelimit.LIMITS, "reads", (3, 1.0))  # a tiny bucket: 3 reads, 1 per second back
    emulator.config.enforce_rate_limits = True
    remaining: list[str] = []
    for _ in range(4):
        await aks.managed_clusters.get(
            RG,
            CLUSTER,
            raw_response_hook=lambda r: remaining.append(
                r.http_response.headers["x-ms-ratelimit-remaining-subscription-reads"]
            ),
        )
    assert remaining[:3] == ["2", "1", "0"]
    assert _statuses(emulator, "managedClusters.get")[3:] == [429, 200], (
        "throttled once, then the retry got in"
    )


async def test_control_endpoint_round_trip(emulator: AzureEmulator) -> None:
    status, plan = await _faults(emulator, "PUT", {"seed": 7, "rules": [{"match": "*", "error_rate": 0.5}]})
    assert status == 200 and plan["seed"] == 7 and plan["rules"][0]["error_rate"] == 0.5
    status, body = await _faults(emulator, "POST", {"rules": [{"match": "x", "nonsense": 1}]})
    assert status == 400 and "nonsense" in body["error"]["message"]
    status, plan = await _faults(emulator, "DELETE")
    assert status == 200 and plan["rules"] == []
    status, log = await control(emulator.base_url, str(emulator.ca_file), "GET", "/_emulator/requests")
    assert status == 200 and log["count"] == 0, "control calls are not logged"


def test_fault_decisions_are_reproducible_from_the_seed() -> None:
    def run(seed: int) -> list[str | None]:
        injector = FaultInjector(
            FaultPlan(
                seed=seed,
                rules=[
                    FaultRule(
                        match="agentPools.*",
                        error_rate=0.3,
                        drop_rate=0.1,
                        throttle_rate=0.2,
                        latency_jitter_ms=5,
                    )
                ],
            )
        )
        ops = ["agentPools.put", "agentPools.get", "managedClusters.get"] * 50
        return [injector.decide(op).action for op in ops]

    assert run(42) == run(42)
    assert run(42) != run(43)
    assert {a for a in run(42)} >= {None, "error", "drop_before", "throttle"}


async def test_settings_change_at_run_time(emulator: AzureEmulator) -> None:
    base, ca = emulator.base_url, str(emulator.ca_file)
    status, settings = await control(
        base,
        ca,
        "PATCH",
        "/_emulator/settings",
        {
            "durations": {"pool_create": 2.5},
            "familyQuotas": {"standardNCADSA100v4Family": 24},
            "principalReplicationSeconds": 3,
            "pollHintMs": 5,
        },
    )
    assert status == 200 and settings["durations"]["pool_create"] == 2.5
    assert emulator.config.family_quotas["standardNCADSA100v4Family"] == 24
    assert (emulator.config.principal_replication_seconds, emulator.config.poll_hint_ms) == (3.0, 5)
    status, body = await control(base, ca, "PATCH", "/_emulator/settings", {"oidcIssuerUrl": "https://x/"})
    assert status == 400 and "oidcIssuerUrl" in body["error"]["message"]
