"""Failures that a DXL client sees: the service's error codes, each with one readable sentence."""

from __future__ import annotations

BAD_REQUEST = 400
UNAUTHORIZED = 401
FORBIDDEN = 403
TOO_MANY_REQUESTS = 429
BAD_GATEWAY = 502
UNAVAILABLE = 503
GATEWAY_TIMEOUT = 504


class ServiceError(Exception):
    """A failure answered to the requester as an ``ErrorResponse``.

    ``retry_after`` (seconds) is set when waiting would help, as for quota
    exhaustion (429) or a retryable upstream failure.
    """

    def __init__(self, code: int, message: str, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.retry_after = retry_after

    def to_dict(self) -> dict:
        """The ``error`` object of a ``classify`` result."""
        retry = None if self.retry_after is None else max(1, round(self.retry_after))
        return {"code": self.code, "message": self.message, "retry_after": retry}

    def __repr__(self) -> str:
        return f"ServiceError({self.code}, {self.message!r})"


def bad_request(message: str) -> ServiceError:
    """A request that is itself wrong (400)."""
    return ServiceError(BAD_REQUEST, message)
