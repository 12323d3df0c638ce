"""Stand-ins for many pods in a bounded number of processes, and the readiness they report."""

import asyncio
import json
import os
from datetime import UTC, datetime
from typing import Any

import aiohttp
import pytest
from kubernetes.client import ApiClient

from localcloud.inference_standin import HOLD_SIGNAL, RELEASE_SIGNAL, PodHost
from localcloud.pod_network import PodNetwork
from localcloud.processes import pid_alive
from localcloud.standins import StandInHost, StandInManager, readiness_patch
from tests.waiting import wait_for
from workflows.naming import INFERENCE_PORT


async def get_json(url: str) -> Any:
    async with aiohttp.ClientSession() as session, session.get(url) as response:
        return await response.json()


async def test_one_host_serves_each_pod_its_own_model_on_its_own_port() -> None:
    pods = PodHost()
    try:
        a = await pods.add("default/a-0", "phi-3")
        b = await pods.add("default/b-0", "falcon-7b", ("lora-1",))
        assert a != b
        assert [m["id"] for m in (await get_json(f"http://127.0.0.1:{a}/v1/models"))["data"]] == ["phi-3"]
        served = [m["id"] for m in (await get_json(f"http://127.0.0.1:{b}/v1/models"))["data"]]
        assert served == ["falcon-7b", "lora-1"]

        assert await pods.remove("default/a-0")
        with pytest.raises(aiohttp.ClientConnectionError):
            await get_json(f"http://127.0.0.1:{a}/health")
        assert pods.pods == ["default/b-0"]
    finally:
        await pods.close()


async def test_a_bad_order_is_answered_with_its_error_and_changes_nothing() -> None:
    pods = PodHost()
    try:
        await pods.add("default/a-0", "phi-3")
        assert "unknown op 'restart'" in str(
            (await pods.order(json.dumps({"op": "restart", "pod": "x"})))["error"]
        )
        assert "bad order" in str((await pods.order("not json"))["error"])
        assert "bad order" in str(
            (await pods.order(json.dumps({"op": "add", "pod": "x"})))["error"]
        )  # no model
        assert pods.pods == ["default/a-0"]
    finally:
        await pods.close()


async def test_the_host_process_takes_orders_on_stdin_and_exits_when_told() -> None:
    host = await StandInHost.start()
    try:
        port = (await host.order(op="add", pod="default/a-0", model="phi-3"))["port"]
        assert (await get_json(f"http://127.0.0.1:{port}/v1/models"))["data"][0]["id"] == "phi-3"
        assert (await host.order(op="remove", pod="default/a-0")) == {"pod": "default/a-0", "removed": True}
    finally:
        await host.stop()
    assert host.process.returncode is not None and not pid_alive(host.pid)


def running_pod(name: str, ip: str, ready: bool) -> dict[str, Any]:
    return {
        "metadata": {"namespace": "default", "name": name, "annotations": {"kaito.sh/model": name}},
        "spec": {"containers": [{"name": "model"}]},
        "status": {
            "phase": "Running",
            "podIP": ip,
            "conditions": [{"type": "Ready", "status": "True" if ready else "False"}],
        },
    }


async def test_pods_share_processes_up_to_the_bound_and_are_routed_to_their_own_stand_in() -> None:
    network = PodNetwork()
    manager = StandInManager(ApiClient(), network, pods_per_process=2)
    try:
        for i in range(5):  # Ready already (a restarted manager finds them so): no probe, no apiserver
            await manager._launch(
                f"default/ws{i}-0", f"10.244.0.{i + 1}", running_pod(f"ws{i}", f"10.244.0.{i + 1}", True)
            )
        assert len(manager.host_pids) == 3, "5 pods, 2 per process"
        routes = network.routes()
        for i in range(5):
            host, port = routes[(f"10.244.0.{i + 1}", INFERENCE_PORT)]
            models = await get_json(f"http://{host}:{port}/v1/models")
            assert models["data"][0]["id"] == f"ws{i}"
        await manager._retire("default/ws0-0")
        assert ("10.244.0.1", INFERENCE_PORT) not in network.routes()
        await manager._launch("default/ws9-0", "10.244.0.9", running_pod("ws9", "10.244.0.9", True))
        assert len(manager.host_pids) == 3, "the freed place is reused"
    finally:
        pids = manager.host_pids
        await manager.stop()
    wait_for(lambda: not any(pid_alive(p) for p in pids), "the stand-in hosts to exit", timeout=10)


def test_bound_must_be_positive() -> None:
    with pytest.raises(ValueError, match="pods_per_process must be at least 1, not 0"):
        StandInManager(ApiClient(), PodNetwork(), pods_per_process=0)


def test_readiness_patch_marks_the_pod_and_every_container_ready_keeping_what_kwok_wrote() -> None:
    pod = {
        "status": {
            "containerStatuses": [
                {"name": "model", "image": "vllm", "ready": False, "started": True, "state": {"running": {}}}
            ]
        }
    }
    patch = readiness_patch(pod, datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC))["status"]
    assert {(c["type"], c["status"]) for c in patch["conditions"]} == {
        ("Ready", "True"),
        ("ContainersReady", "True"),
    }
    assert patch["conditions"][0]["lastTransitionTime"] == "2026-01-02T03:04:05Z"
    assert patch["containerStatuses"] == [
        {"name": "model", "image": "vllm", "ready": True, "started": True, "state": {"running": {}}}
    ]


async def test_the_host_process_holds_chat_answers_on_sigusr1_and_lets_them_go_on_sigusr2() -> None:
    host = await StandInHost.start()
    try:
        port = (await host.order(op="add", pod="default/a-0", model="phi-3"))["port"]
        os.kill(host.pid, HOLD_SIGNAL)
        await host.order(op="remove", pod="none")  # answered after the signal was handled: orders are in turn
        url = f"http://127.0.0.1:{port}"
        async with aiohttp.ClientSession() as session:
            chat = asyncio.create_task(session.post(f"{url}/v1/chat/completions", json={"messages": []}))
            assert (await session.get(f"{url}/health")).status == 200, "readiness still passes"
            await asyncio.sleep(0.3)  # what a held request looks like: still unanswered after a while
            assert not chat.done()
            os.kill(host.pid, RELEASE_SIGNAL)
            assert (await asyncio.wait_for(chat, 10)).status == 200
    finally:
        await host.stop()
