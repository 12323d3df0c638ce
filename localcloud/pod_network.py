"""The local cloud's pod network: an HTTP CONNECT proxy the kube-apiserver dials pods through.

kwok gives pods IPs that no machine owns. The apiserver's egress selector sends every connection to the
"cluster" (service proxy, pod proxy) through this proxy, which maps `podIP:port` to the loopback address
of the process standing in for that pod — the role konnectivity plays on AKS. Nothing is ever sent to a
pod IP itself.
"""

import asyncio
import contextlib
import logging
from pathlib import Path

log = logging.getLogger("kaito.podnetwork")

Address = tuple[str, int]


class PodNetwork:
    """Routes `CONNECT podIP:port` to a registered loopback address; 503 for an unknown pod."""

    def __init__(self) -> None:
        self._routes: dict[Address, Address] = {}
        self._server: asyncio.Server | None = None
        self.connections = 0

    def add_route(self, pod: Address, target: Address) -> None:
        self._routes[pod] = target

    def remove_route(self, pod: Address, target: Address | None = None) -> None:
        """Forget a pod's route; with `target`, only while it still leads there (kwok reuses pod IPs,
        so a late-retired pod must not take the route of the new pod that got its IP)."""
        if target is None or self._routes.get(pod) == target:
            self._routes.pop(pod, None)

    def routes(self) -> dict[Address, Address]:
        return dict(self._routes)

    async def start(self, host: str = "127.0.0.1", port: int = 0) -> Address:
        """Listen on TCP (for tests and tools)."""
        self._server = await asyncio.start_server(self._handle, host, port)
        bound = self._server.sockets[0].getsockname()
        return str(bound[0]), int(bound[1])

    async def start_unix(self, path: Path) -> Path:
        """Listen on a Unix socket: the apiserver speaks HTTP CONNECT over UDS without TLS."""
        path.unlink(missing_ok=True)
        self._server = await asyncio.start_unix_server(self._handle, path=str(path))
        return path

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), timeout=10)
            request_line = head.split(b"\r\n", 1)[0].decode("latin-1")
            method, authority, _ = request_line.split(" ", 2)
            host, _, port = authority.rpartition(":")
            if method != "CONNECT" or not port.isdigit():
                await self._reply(writer, "405 Method Not Allowed")
                return
            target = self._routes.get((host.strip("[]"), int(port)))
            if target is None:
                log.info("no pod answers at %s", authority)
                await self._reply(writer, "503 Service Unavailable")
                return
            upstream_reader, upstream_writer = await asyncio.open_connection(*target)
        except (OSError, ValueError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError):
            await self._reply(writer, "502 Bad Gateway")
            return
        self.connections += 1
        writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
        await writer.drain()
        await asyncio.gather(_pipe(reader, upstream_writer), _pipe(upstream_reader, writer))

    @staticmethod
    async def _reply(writer: asyncio.StreamWriter, status: str) -> None:
        with contextlib.suppress(OSError):
            writer.write(f"HTTP/1.1 {status}\r\nContent-Length: 0\r\n\r\n".encode())
            await writer.drain()
            writer.close()


async def _pipe(source: asyncio.StreamReader, sink: asyncio.StreamWriter) -> None:
    try:
        while chunk := await source.read(65536):
            sink.write(chunk)
            await sink.drain()
    except OSError:
        pass
    finally:
        with contextlib.suppress(OSError):
            sink.close()


def egress_selector_config(socket_path: Path) -> str:
    """The apiserver's --egress-selector-config-file: "cluster" traffic goes through the proxy's socket.

    Over TCP the apiserver insists on TLS to the proxy; over a Unix socket it does not, and the socket
    is reachable only from this machine.
    """
    return (
        "apiVersion: apiserver.k8s.io/v1beta1\n"
        "kind: EgressSelectorConfiguration\n"
        "egressSelections:\n"
        "- name: cluster\n"
        "  connection:\n"
        "    proxyProtocol: HTTPConnect\n"
        "    transport:\n"
        "      uds:\n"
        f"        udsName: {socket_path}\n"
    )
