"""Kubernetes watches for asyncio code: the synchronous client streams in a thread, events arrive on a
queue. Each stream restart re-lists, so a dropped watch never loses the current state.
"""

import asyncio
import logging
import threading
from collections.abc import AsyncIterator, Callable
from typing import Any

from kubernetes import watch
from kubernetes.client import ApiClient

log = logging.getLogger("kaito.localcloud")

Event = tuple[str, dict[str, Any]]  # (ADDED|MODIFIED|DELETED|SYNC, object as a plain dict)


async def watch_objects(
    api: ApiClient, list_fn: Callable[..., Any], stop: threading.Event, **kwargs: Any
) -> AsyncIterator[Event]:
    """Yield ("SYNC", obj) for every object at each (re)start, then watch events, until `stop` is set."""
    loop = asyncio.get_running_loop()
    queue: asyncio.Queue[Event] = asyncio.Queue()

    def pump() -> None:
        while not stop.is_set():
            try:
                listing = list_fn(**kwargs)
                for item in listing.items:
                    loop.call_soon_threadsafe(
                        queue.put_nowait, ("SYNC", api.sanitize_for_serialization(item))
                    )
                stream = watch.Watch().stream(
                    list_fn, resource_version=listing.metadata.resource_version, timeout_seconds=30, **kwargs
                )
                for event in stream:
                    if stop.is_set():
                        return
                    obj = api.sanitize_for_serialization(event["object"])
                    loop.call_soon_threadsafe(queue.put_nowait, (str(event["type"]), obj))
            except Exception as err:  # a dropped connection or an expired resourceVersion: re-list
                if stop.is_set():
                    return
                log.debug("watch restarts after %s", err)
                stop.wait(1.0)

    thread = threading.Thread(
        target=pump, daemon=True, name=f"watch-{getattr(list_fn, '__name__', 'objects')}"
    )
    thread.start()
    while not stop.is_set():
        try:
            yield await asyncio.wait_for(queue.get(), timeout=1.0)
        except TimeoutError:
            continue
