"""Error responses shaped exactly as ARM, the AKS resource provider and Entra send them.

Handlers raise these; the server turns them into responses. No error other than 429 carries
Retry-After, because azure-core retries *any* >= 400 response that has one.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import KW_ONLY, dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from aiohttp import web

ErrorShape = Literal["arm", "aks"]


@dataclass(eq=False)
class ArmError(Exception):
    """An ARM failure. `shape="aks"` gives the AKS RP's unwrapped body ({"code","message","subcode"})."""

    status: int
    code: str
    message: str
    _: KW_ONLY
    target: str | None = None
    shape: ErrorShape = "arm"
    headers: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        super().__init__(f"{self.status} {self.code}: {self.message}")

    def body(self) -> dict[str, Any]:
        if self.shape == "aks":
            aks: dict[str, Any] = {"code": self.code, "details": None, "message": self.message, "subcode": ""}
            if self.target:
                aks["target"] = self.target
            return aks
        error: dict[str, Any] = {"code": self.code, "message": self.message}
        if self.target:
            error["target"] = self.target
        return {"error": error}

    def response(self) -> web.Response:
        return web.json_response(self.body(), status=self.status, headers=self.headers)


def not_found(resource_type: str, name: str, resource_group: str) -> ArmError:
    return ArmError(
        404,
        "ResourceNotFound",
        f"The Resource '{resource_type}/{name}' under resource group '{resource_group}' was not found. "
        "For more details please go to https://aka.ms/ARMResourceNotFoundFix",
    )


def location_required() -> ArmError:
    return ArmError(400, "LocationRequired", "The location property is required for this definition.")


def location_taken(name: str, location: str, resource_group: str, requested: str) -> ArmError:
    """A PUT that names another location than the existing resource's."""
    return ArmError(
        409,
        "InvalidResourceLocation",
        f"The resource '{name}' already exists in location '{location}' in resource group "
        f"'{resource_group}'. A resource with the same name cannot be created in location '{requested}'. "
        "Please select a new resource name.",
    )


def resource_group_not_found(resource_group: str) -> ArmError:
    return ArmError(404, "ResourceGroupNotFound", f"Resource group '{resource_group}' could not be found.")


def invalid_parameter(target: str, message: str) -> ArmError:
    return ArmError(400, "InvalidParameter", message, target=target, shape="aks")


def invalid_content(detail: str) -> ArmError:
    return ArmError(
        400,
        "InvalidRequestContent",
        f"The request content was invalid and could not be deserialized: {detail}",
    )


@dataclass(eq=False)
class EntraError(Exception):
    """An Entra (AADSTS) token-endpoint failure; azure-identity surfaces `error_description`."""

    status: int
    error: str
    aadsts: int
    description: str
    headers: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        super().__init__(f"AADSTS{self.aadsts}: {self.description}")

    def response(self) -> web.Response:
        trace, correlation = str(uuid.uuid4()), str(uuid.uuid4())
        now = datetime.now(UTC).strftime("%Y-%m-%d %H:%M:%SZ")
        body = {
            "error": self.error,
            "error_description": f"AADSTS{self.aadsts}: {self.description} Trace ID: {trace} "
            f"Correlation ID: {correlation} Timestamp: {now}",
            "error_codes": [self.aadsts],
            "timestamp": now,
            "trace_id": trace,
            "correlation_id": correlation,
            "error_uri": "https://login.microsoftonline.com/error?code=" + str(self.aadsts),
        }
        return web.Response(
            status=self.status, text=json.dumps(body), content_type="application/json", headers=self.headers
        )
