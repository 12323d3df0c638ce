"""What every handler gets: the cloud (config + state + operations + events + faults) and the parsed call."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from localcloud.azure.config import EmulatorConfig
from localcloud.azure.errors import (
    ArmError,
    invalid_content,
    location_required,
    location_taken,
    resource_group_not_found,
)
from localcloud.azure.events import EventHub
from localcloud.azure.faults import FaultInjector
from localcloud.azure.oidc import IssuerKeys
from localcloud.azure.operations import Operation, OperationRunner
from localcloud.azure.state import Json, State, StateStore
from localcloud.azure.tokens import TokenAuthority

ASYNC_OPERATION_API_VERSION = "2016-03-30"  # what AKS puts in its polling URLs


@dataclass(frozen=True)
class Principal:
    """The caller an access token names: its object id (RBAC) and app/client id."""

    object_id: str
    app_id: str


@dataclass
class Cloud:
    config: EmulatorConfig
    store: StateStore
    ops: OperationRunner
    events: EventHub
    faults: FaultInjector
    tokens: TokenAuthority
    issuers: IssuerKeys
    base_url: str = ""

    @property
    def state(self) -> State:
        return self.store.state

    def check_subscription(self, subscription_id: str) -> None:
        if subscription_id.lower() != self.config.subscription_id.lower():
            raise ArmError(
                404, "SubscriptionNotFound", f"The subscription '{subscription_id}' could not be found."
            )

    def check_resource_group(self, subscription_id: str, resource_group: str) -> str:
        """The resource group's canonical name, or ARM's 404 when it does not exist."""
        self.check_subscription(subscription_id)
        for name in self.config.resource_groups:
            if name.lower() == resource_group.lower():
                return name
        raise resource_group_not_found(resource_group)

    def operation_urls(self, op: Operation) -> tuple[str, str]:
        """(Azure-AsyncOperation, Location) URLs for an operation, absolute on this emulator."""
        root = (
            f"{self.base_url}/subscriptions/{op.subscription_id}/providers/Microsoft.ContainerService"
            f"/locations/{op.location}"
        )
        query = f"?api-version={ASYNC_OPERATION_API_VERSION}"
        return f"{root}/operations/{op.id}{query}", f"{root}/operationresults/{op.id}{query}"

    def lro_headers(self, op: Operation, *, location: bool = False) -> dict[str, str]:
        status_url, result_url = self.operation_urls(op)
        headers = {"Azure-AsyncOperation": status_url}
        if location:
            headers["Location"] = result_url
        headers.update(self.poll_headers(op))
        return headers

    def poll_headers(self, op: Operation) -> dict[str, str]:
        """Retry-After (>= 1 s) and the optional retry-after-ms hint for a running operation."""
        headers: dict[str, str] = {}
        if self.config.send_retry_after:
            headers["Retry-After"] = str(self.ops.retry_after(op))
        if self.config.poll_hint_ms is not None:
            headers["retry-after-ms"] = str(self.config.poll_hint_ms)
        return headers


@dataclass
class ArmCall:
    """One routed request: path parameters, the authenticated caller, and the JSON body on demand."""

    request: web.Request
    cloud: Cloud
    op: str
    params: dict[str, str]
    principal: Principal | None = None
    _body: Any = field(default=None, repr=False)

    @property
    def method(self) -> str:
        return self.request.method

    def param(self, name: str) -> str:
        return self.params[name]

    async def body(self) -> Json:
        """The request's JSON object; ARM's 400 InvalidRequestContent when it is missing or not an object."""
        if self._body is None:
            raw = await self.request.text()
            if not raw.strip():
                raise invalid_content("the request body is empty")
            try:
                parsed = json.loads(raw)
            except json.JSONDecodeError as exc:
                raise invalid_content(str(exc)) from exc
            if not isinstance(parsed, dict):
                raise invalid_content("the request body must be a JSON object")
            self._body = parsed
        body: Json = self._body
        return body

    def start_operation(self, kind: str, resource_id: str, location: str, seconds: float) -> Operation:
        """The long-running operation this request starts; an injected LRO fault fixes its failure now."""
        failure = self.cloud.faults.take_lro_failure(self.op)
        outcome, error = failure if failure is not None else ("Succeeded", None)
        return self.cloud.ops.new(kind, resource_id, self.param("sub"), location, seconds, outcome, error)


def required_location(body: Json) -> str:
    """The body's `location`, or ARM's 400 LocationRequired."""
    location = body.get("location")
    if not isinstance(location, str) or not location:
        raise location_required()
    return location


def check_location(resource: Json, name: str, resource_group: str, requested: str) -> None:
    """ARM's 409 when a PUT on an existing resource names another location (spaces and case aside)."""
    if requested.replace(" ", "").lower() != resource["location"].lower():
        raise location_taken(name, resource["location"], resource_group, requested)


def arm_json(body: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(
        status=status, text=json.dumps(body), content_type="application/json", headers=headers
    )
