"""Error responses shaped exactly as ARM, the AKS resource provider and Entra send them.

Handlers raise these; the server turns them into responses. No error other than 429 carries
Retry-After, because azure-core retries *any* >= 400 response that has one.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Any, Literal

from aiohttp import web

ErrorShape = Literal["arm", "aks"]


class ArmError(Exception):
    """An ARM failure. `shape="aks"` gives the AKS RP's unwrapped body ({"code","message","subcode"})."""

    def __init__(
        self,
        status: int,
        code: str,
        message: str,
        *,
        target: str | None = None,
        shape: ErrorShape = "arm",
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message
        self.target = target
        self.shape = shape
        self.headers = headers or {}

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


class EntraError(Exception):
    """An Entra (AADSTS) token-endpoint failure; azure-identity surfaces `error_description`."""

    def __init__(
        self, status: int, error: str, aadsts: int, description: str, headers: dict[str, str] | None = None
    ) -> None:
        super().__init__(f"AADSTS{aadsts}: {description}")
        self.status = status
        self.error = error
        self.aadsts = aadsts
        self.description = description
        self.headers = headers or {}

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
