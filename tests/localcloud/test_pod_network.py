"""The CONNECT proxy routes a pod IP to the process standing in for the pod, and nothing else."""

import asyncio
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from aiohttp import web

from localcloud.inference_standin import build_app
from localcloud.pod_network import PodNetwork, egress_selector_config


@pytest.fixture
async def standin() -> AsyncIterator[tuple[str, int]]:
    runner = web.AppRunner(build_app("phi-3-mini-4k-instruct", "default/p-0"))
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    host, port = runner.addresses[0][:2]
    yield str(host), int(port)
    await runner.cleanup()


async def connect_and_get(proxy: tuple[str, int], authority: str, path: str) -> tuple[bytes, bytes]:
    reader, writer = await asyncio.open_connection(*proxy)
    writer.write(f"CONNECT {authority} HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n".encode())
    await writer.drain()
    status = await reader.readuntil(b"\r\n\r\n")
    if not status.startswith(b"HTTP/1.1 200"):
        writer.close()
        return status, b""
    writer.write(f"GET {path} HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n".encode())
    await writer.drain()
    response = await asyncio.wait_for(reader.read(), timeout=10)
    writer.close()
    return status, response


async def test_routes_a_pod_ip_to_its_standin_and_refuses_unknown_pods(standin: tuple[str, int]) -> None:
    network = PodNetwork()
    proxy = await network.start()
    try:
        network.add_route(("10.244.0.7", 5000), standin)
        status, response = await connect_and_get(proxy, "10.244.0.7:5000", "/v1/models")
        assert status.startswith(b"HTTP/1.1 200") and b"phi-3-mini-4k-instruct" in response

        status, _ = await connect_and_get(proxy, "10.244.0.8:5000", "/health")
        assert status.startswith(b"HTTP/1.1 503"), "an unknown pod is never dialled"
        network.remove_route(("10.244.0.7", 5000), ("127.0.0.1", 1))  # a stale owner: the route stays
        assert ("10.244.0.7", 5000) in network.routes()
        network.remove_route(("10.244.0.7", 5000), standin)
        status, _ = await connect_and_get(proxy, "10.244.0.7:5000", "/health")
        assert status.startswith(b"HTTP/1.1 503")
        assert network.connections == 1
    finally:
        await network.stop()


def test_egress_selector_config_points_cluster_traffic_at_the_proxy(tmp_path: Path) -> None:
    text = egress_selector_config(tmp_path / "pods.sock")
    assert "name: cluster" in text and "proxyProtocol: HTTPConnect" in text
    assert f"udsName: {tmp_path / 'pods.sock'}" in text
