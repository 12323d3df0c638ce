"""`python -m gateway`: the wake gateway, listening on KAITO_WAKE_GATEWAY_ADDRESS (default 0.0.0.0:8080).

It reaches workspaces only through the Temporal client (the `wake` update and query) and the model only
through the apiserver's service proxy; it keeps no state of its own, so replicas may come and go (each
keeps the routed Services' endpoints on the gateway pods that run: `gateway.endpoints`).
"""

import asyncio
import logging
import os
import signal

from aiohttp import web

from connections.temporal import connect, settings_or_exit
from gateway.endpoints import EndpointsKeeper, own_namespace
from gateway.forward import Forwarder
from gateway.server import Gateway
from gateway.waker import Waker
from workflows.workspace_contracts import WAKE_GATEWAY_PORT

ADDRESS_VARIABLE = "KAITO_WAKE_GATEWAY_ADDRESS"
REFRESH_VARIABLE = "KAITO_WAKE_GATEWAY_REFRESH_SECONDS"  # how often routed endpoints follow the gateway pods


def listen_address() -> tuple[str, int]:
    text = os.environ.get(ADDRESS_VARIABLE, f"0.0.0.0:{WAKE_GATEWAY_PORT}")
    host, _, port = text.rpartition(":")
    if not host or not port.isdigit():
        raise SystemExit(f"{ADDRESS_VARIABLE}={text!r} is not host:port")
    return host, int(port)


async def serve() -> None:
    host, port = listen_address()
    settings_or_exit()  # a half-set Temporal configuration stops here, in one line
    client = await connect()
    forwarder = Forwarder()
    gateway = Gateway(Waker(client), forwarder)
    interval = float(os.environ.get(REFRESH_VARIABLE, "30"))
    keeper = asyncio.create_task(EndpointsKeeper(forwarder.api, own_namespace(), interval).run())
    runner = web.AppRunner(gateway.app(), access_log=None)
    await runner.setup()
    await web.TCPSite(runner, host, port).start()
    logging.getLogger("kaito.gateway").info("wake gateway listening on %s:%d", host, port)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await stop.wait()
    keeper.cancel()
    await runner.cleanup()


def run() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    asyncio.run(serve())
