"""Sorting Azure SDK failures into "retry" and "no retry can fix this", keeping ARM's code and message.

Every Azure activity turns what the SDK raises into a Temporal `ApplicationError` whose `type` is the ARM
error code (`QuotaExceeded`, `AuthorizationFailed`, `TooManyRequests` …) and whose message carries ARM's
message, so the workflow, the Temporal UI and `kaitoctl` show the cause verbatim.

The SDK's own retry policy has already run inside the attempt: it honours `Retry-After` on 429/5xx and
re-sends after a dropped connection or a read timeout. What reaches `classify` is what that policy gave
up on, and the decision is:

* retryable — 408/429/5xx, a long-running operation that ended Failed/Canceled for a transient reason,
  `PrincipalNotFound` (AAD replication right after an identity is created), ARM's 401, a credential
  that could not get a token for a transient reason, connection errors and timeouts. A `Retry-After`
  from ARM becomes the next retry's delay.
* busy — another operation runs on the resource: a 409 conflict (`is_busy`), or a provisioningState
  such as Creating that the activity read. Retryable, after ARM's Retry-After or else the activity's
  `busy_retry` delay (`busy`): the next attempt reads the resource again and writes only what still
  differs.
* final (non-retryable) — 400 validation (`BadRequest`, `InvalidParameter` …), `QuotaExceeded` in any
  shape, no capacity (`AllocationFailed`, `OverconstrainedAllocationRequest`, `SkuNotAvailable`: the
  workflow waits for capacity instead), 403 `AuthorizationFailed`, 404 where the caller did not expect
  it, 409 conflicts that describe the request rather than the moment (`InvalidResourceLocation`,
  `PropertyChangeNotAllowed` …).
* bounded — Entra refusing the credential itself (`CredentialRefused`): no federated credential matches
  the service-account token's issuer/subject/audience (AADSTS70021, 700211-700213, 7002138), unknown
  client id (700016), wrong secret (7000215), unknown signing key (700027). Right after the bootstrap
  writes a federated credential Entra may not know it for a few seconds, so these are retried while the
  activity's first attempt is younger than `CREDENTIAL_GRACE` (10 s), then final with the AADSTS code and
  what to do — a broken federation surfaces as one clear error instead of retrying forever.
"""

import asyncio
import re
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from azure.core.exceptions import (
    AzureError,
    ClientAuthenticationError,
    HttpResponseError,
)
from temporalio import activity
from temporalio.exceptions import ApplicationError

# Statuses that mean "try again later": timeout, conflict with a running operation, throttling, faults.
RETRYABLE_STATUS = frozenset({401, 408, 409, 429, 500, 502, 503, 504})
# Codes that are retryable whatever the status says (PrincipalNotFound comes as a 400).
RETRYABLE_CODES = frozenset({"PrincipalNotFound", "TooManyRequests", "RetryableError"})
# Codes that are final whatever the status says (a 409 or a Failed long-running operation included).
FINAL_CODES = frozenset(
    {
        "QuotaExceeded",
        "OperationNotAllowedQuota",
        "BadRequest",
        "InvalidParameter",
        "InvalidRequestContent",
        "InvalidResourceName",
        "InvalidResourceLocation",
        "LocationRequired",
        "PropertyChangeNotAllowed",
        "AuthorizationFailed",
        "LinkedAuthorizationFailed",
        "InvalidTemplateDeployment",
        "SubscriptionNotFound",
        "ResourceGroupNotFound",
        "UnmatchedPrincipalType",
        "RoleDefinitionDoesNotExist",
        "RoleAssignmentUpdateNotPermitted",
        "RoleAssignmentLimitExceeded",
        "InvalidRoleAssignmentId",
        # No VMs of the size behind the quota right now: final for the attempt, because the workflow
        # waits for capacity (durably, holding nothing) instead of an activity retrying against ARM.
        "AllocationFailed",
        "ZonalAllocationFailed",
        "OverconstrainedAllocationRequest",
        "OverconstrainedZonalAllocationRequest",
        "SkuNotAvailable",
    }
)
# Entra's refusals of the credential itself (see the module docstring), by AADSTS number.
FEDERATION_MISMATCH = frozenset({70021, 700211, 700212, 700213, 7002138})
CREDENTIAL_REFUSALS = FEDERATION_MISMATCH | {700016, 7000215, 700027}
CREDENTIAL_GRACE = timedelta(seconds=10)
_AADSTS = re.compile(r"AADSTS(\d+)")
# Conflicts that only mean "another operation is running": retry once it ends, looking again first.
BUSY_CODES = frozenset({"OperationNotAllowed", "AnotherOperationInProgress", "Conflict", "EtagMismatch"})
# The error type of a resource read in a busy provisioningState (ARM's own code for the same situation).
BUSY_STATE = "AnotherOperationInProgress"


def arm_code(error: AzureError) -> str:
    """ARM's error code (either body shape), else `HTTP<status>`, else the exception's class name."""
    code = getattr(getattr(error, "error", None), "code", None)
    if code:
        return str(code)
    status = getattr(error, "status_code", None)
    return f"HTTP{status}" if status else type(error).__name__


def arm_message(error: AzureError) -> str:
    message = getattr(getattr(error, "error", None), "message", None)
    return str(message or error.message or error)


# ARM's quota refusal, in the words of AKS's preflight and of a VM scale set: the family, where, the numbers.
_QUOTA_FAMILY = re.compile(r"approved (?P<family>.+?) Cores quota", re.IGNORECASE)
_QUOTA_NUMBER = {
    "location": re.compile(r"Location: (?P<v>[A-Za-z0-9 ]+?),"),
    "limit": re.compile(r"Current Limit: (?P<v>\d+)"),
    "usage": re.compile(r"Current Usage: (?P<v>\d+)"),
    "required": re.compile(r"Additional Required: (?P<v>\d+)"),
}


@dataclass(frozen=True)
class QuotaShortfall:
    """What a quota refusal says, read out of ARM's long message: family, region, limit, use, request."""

    family: str
    location: str
    limit: int
    usage: int
    required: int

    @property
    def free(self) -> int:
        return max(0, self.limit - self.usage)

    def sentence(self) -> str:
        """The cause, one sentence with every number in it."""
        return (
            f"the {self.family} quota in {self.location} is {self.limit} vCPUs, {self.usage} are in use "
            f"and {self.required} more are requested"
        )

    def fix(self) -> str:
        """The fix, one sentence."""
        return (
            f"request a {self.family} quota of at least {self.usage + self.required} vCPUs in "
            f"{self.location} (Azure portal: Quotas, Compute)"
        )


def quota_shortfall(message: str) -> QuotaShortfall | None:
    """The numbers of an ARM quota refusal, or None when the message is not one (or lacks them)."""
    family = _QUOTA_FAMILY.search(message)
    found = {key: pattern.search(message) for key, pattern in _QUOTA_NUMBER.items()}
    if family is None or any(match is None for match in found.values()):
        return None
    values = {key: match.group("v") for key, match in found.items() if match is not None}
    return QuotaShortfall(
        family=family.group("family").strip(),
        location=values["location"].strip(),
        limit=int(values["limit"]),
        usage=int(values["usage"]),
        required=int(values["required"]),
    )


def cause_text(message: str) -> str:
    """ARM's message as the cause we show: a quota refusal as its numbers and its fix, else verbatim."""
    quota = quota_shortfall(message)
    if quota is None:
        return message
    return f"{quota.sentence()}; {quota.fix()}"


def mentions_quota(error: AzureError) -> bool:
    """AKS reports a VM-scale-set quota as 409 OperationNotAllowed "… exceeding approved … quota"."""
    return "quota" in arm_message(error).lower()


def is_busy(error: AzureError) -> bool:
    """A conflict with an operation in progress (ours, re-sent after a lost response, or someone else's)."""
    return (
        isinstance(error, HttpResponseError)
        and error.status_code == 409
        and arm_code(error) in BUSY_CODES
        and not mentions_quota(error)
    )


def retry_after(error: BaseException) -> timedelta | None:
    """ARM's Retry-After (seconds) on the response the SDK gave up on, as Temporal's next retry delay."""
    response = getattr(error, "response", None)
    headers: Any = getattr(response, "headers", None) or {}
    for name, scale in (("retry-after-ms", 0.001), ("x-ms-retry-after-ms", 0.001), ("Retry-After", 1.0)):
        raw = headers.get(name)
        if raw is None:
            continue
        try:
            seconds = float(raw) * scale
        except ValueError:
            continue  # an HTTP date; Temporal's backoff is good enough
        if seconds > 0:
            return timedelta(seconds=seconds)
    return None


def is_final(error: AzureError) -> bool:
    """Whether no retry can fix what the SDK raised (see the module docstring for the rules)."""
    if isinstance(error, ClientAuthenticationError):
        # A token the credential could not get (or ARM refused): transient unless Entra refused the
        # credential itself, which `classify` finalises after the propagation grace.
        return False
    if not isinstance(error, HttpResponseError) or error.status_code is None:
        return False  # no answer at all: connection refused/reset/dropped, timeouts
    code, status = arm_code(error), error.status_code
    if code in RETRYABLE_CODES:
        return False
    if code in FINAL_CODES or (mentions_quota(error) and status in (200, 400, 409)):
        return True
    if status < 300:
        # A long-running operation that ended Failed/Canceled (its poll answered 200 with the error): AKS's
        # own failures (InternalOperationError, VMExtensionProvisioningError, …) are transient, and the
        # retry re-reads the resource and PUTs again. Validation-type failures are in FINAL_CODES.
        return False
    return status not in RETRYABLE_STATUS


def entra_refusal(error: BaseException) -> int | None:
    """The AADSTS number when Entra refused the credential itself (see CREDENTIAL_REFUSALS), else None."""
    if not isinstance(error, ClientAuthenticationError):
        return None
    codes = [int(n) for n in _AADSTS.findall(str(error.message or error))]
    return next((code for code in codes if code in CREDENTIAL_REFUSALS), None)


def _refusal_text(error: ClientAuthenticationError, code: int) -> str:
    """Entra's own sentence (`AADSTS70021: No matching federated identity record …`), without the
    DefaultAzureCredential chain, trace ids and troubleshooting boilerplate around it."""
    text = str(error.message or error)
    start = text.find(f"AADSTS{code}:")
    if start < 0:
        return f"AADSTS{code}"
    sentence = re.split(r"[\r\n]", text[start:], maxsplit=1)[0]
    for stop in (" Trace ID:", "\\r\\n", '", "'):
        sentence = sentence.split(stop, 1)[0]
    return sentence.rstrip("'\" ")


def _past_grace(grace: timedelta) -> bool:
    """Whether the activity has been failing for longer than `grace` (always, outside an activity)."""
    if not activity.in_activity():
        return True
    info = activity.info()
    return info.started_time - info.scheduled_time >= grace


def _credential_refused(
    error: ClientAuthenticationError, code: int, doing: str, grace: timedelta
) -> ApplicationError:
    text = _refusal_text(error, code)
    cause = f"Entra refused the Azure credential: {text}"
    if code in FEDERATION_MISMATCH:
        hint = (
            "the worker's service-account token (its issuer, subject system:serviceaccount:<ns>:<sa> and "
            "audience api://AzureADTokenExchange) matches no federated credential of its managed identity; "
            "run the cluster bootstrap (`kaitoctl bootstrap`) to repair the federation"
        )
    else:
        hint = "the client id, secret or token signing key is not one Entra accepts for this identity"
    final = _past_grace(grace)
    return ApplicationError(
        f"{doing}: {cause} — {hint}",
        {"code": f"AADSTS{code}", "message": text, "status": 401, "cause": f"{cause} — {hint}"},
        type="CredentialRefused",
        non_retryable=final,
        next_retry_delay=None if final else timedelta(seconds=2),
    )


def busy(
    doing: str, cause: str, retry_in: timedelta, *, code: str = BUSY_STATE, status: int | None = None
) -> ApplicationError:
    """Another operation runs on the resource: retryable, after `retry_in`, by the next attempt."""
    return ApplicationError(
        f"{doing}: {cause}; the next attempt, in {retry_in.total_seconds():g}s, reads it again",
        {"code": code, "message": cause, "status": status, "cause": cause},
        type=code,
        next_retry_delay=retry_in,
    )


def classify(
    error: BaseException,
    doing: str,
    *,
    credential_grace: timedelta | None = None,
    busy_retry: timedelta | None = None,
) -> ApplicationError:
    """An ApplicationError typed with the ARM code, retryable or final as the module docstring says.

    A busy conflict is retried after ARM's Retry-After, else `busy_retry`, when that is given (else as
    any retryable error). The message is `doing: cause`, the code being the type; details carry
    `{"code", "message", "status", "cause"}`, so a caller that adds its own context (the workflow's
    step) says the cause without `doing` a second time.
    """
    if busy_retry is not None and isinstance(error, HttpResponseError) and is_busy(error):
        delay = retry_after(error) or busy_retry
        return busy(doing, arm_message(error), delay, code=arm_code(error), status=error.status_code)
    refusal = entra_refusal(error)
    if refusal is not None and isinstance(error, ClientAuthenticationError):
        grace = CREDENTIAL_GRACE if credential_grace is None else credential_grace
        return _credential_refused(error, refusal, doing, grace)
    if isinstance(error, AzureError):
        code, message = arm_code(error), cause_text(arm_message(error))
        status: int | None = getattr(error, "status_code", None)
        final = is_final(error)
    else:  # asyncio.TimeoutError, OSError from the transport: no answer, try again
        code, message, status, final = type(error).__name__, str(error) or type(error).__name__, None, False
    # The code is the error's type (the condition's reason): the message says the cause once, in words.
    return ApplicationError(
        f"{doing}: {message}",
        {"code": code, "message": message, "status": status, "cause": message},
        type=code,
        non_retryable=final,
        next_retry_delay=None if final else retry_after(error),
    )


# Everything an Azure SDK call can raise that `classify` understands: ARM's answers (HttpResponseError and
# its subclasses), credential failures, and no answer at all (after the SDK's own retries).
AZURE_FAILURES: tuple[type[BaseException], ...] = (AzureError, asyncio.TimeoutError, OSError)
