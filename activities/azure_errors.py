"""Sorting Azure SDK errors into "retry" and "no retry can fix this", keeping ARM's code and message."""

from azure.core.exceptions import HttpResponseError
from temporalio.exceptions import ApplicationError

# Statuses that mean "try again later": throttling, timeouts, another operation in progress, server faults.
RETRYABLE_STATUS = frozenset({408, 409, 429, 500, 502, 503, 504})
# 409 codes that are final rather than "busy".
FINAL_CONFLICT_CODES = frozenset({"QuotaExceeded", "InvalidParameter", "PropertyChangeNotAllowed"})


def arm_code(error: HttpResponseError) -> str:
    code = getattr(getattr(error, "error", None), "code", None)
    return str(code) if code else f"HTTP{error.status_code or 0}"


def classify(error: HttpResponseError, doing: str) -> ApplicationError:
    """An ApplicationError typed with the ARM code; 400/403/quota are final, the rest retried.

    The SDK's own retry policy has already honoured Retry-After for 429/5xx within this attempt; what is
    left retries at the activity level with backoff.
    """
    code = arm_code(error)
    message = getattr(getattr(error, "error", None), "message", None) or error.message or str(error)
    status = error.status_code or 0
    final = status not in RETRYABLE_STATUS or code in FINAL_CONFLICT_CODES
    return ApplicationError(f"{doing}: {code}: {message}", type=code, non_retryable=final)
