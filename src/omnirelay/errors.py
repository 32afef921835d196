"""The one error tree of omnirelay.

Every failure a client can see is a ``GatewayError``; each client-facing format renders it in
its own shape (``api/openai.py`` as the OpenAI envelope, and so on), so domain code raises these
and never builds responses::

    GatewayError                      status  kind
     ├── InvalidRequest               400     invalid_request_error
     │    └── BannedPrompt            400     (code banned_prompt; carries the banned word)
     ├── AuthenticationFailed         401     authentication_error
     ├── PermissionDenied             403     permission_error
     ├── NotFound                     404     not_found_error
     │    └── ModelNotFound           404     (code model_not_found)
     ├── Conflict                     409     conflict_error (admin: name taken, last admin…)
     ├── PayloadTooLarge              413     request_too_large
     ├── QuotaExceeded                429     insufficient_quota (never retry)
     ├── RateLimited                  429     rate_limit_error (retry later)
     ├── Unavailable                  503     service_unavailable (draining, database away)
     └── UpstreamError                502     upstream_error
          ├── UpstreamTimeout         504     timeout_error
          └── NoChannelAvailable      503     service_unavailable

An error may carry ``retry_after`` (seconds): every client format then sends ``Retry-After``.

Messages never carry secrets: vendor adapters map upstream failures into these before they
reach a client, and keep upstream bodies only where they are the client's own fault.
"""

from __future__ import annotations


class GatewayError(Exception):
    """Base of every error a client may see."""

    status: int = 500
    kind: str = "api_error"
    default_code: str | None = None
    retryable: bool | None = None
    retry_after: float | None = None  # seconds; rendered as a Retry-After header

    def __init__(
        self,
        message: str,
        *,
        code: str | None = None,
        param: str | None = None,
        status: int | None = None,
    ) -> None:
        super().__init__(message)
        self.message = message
        self.code = code if code is not None else self.default_code
        self.param = param
        if status is not None:
            self.status = status


class InvalidRequest(GatewayError):
    status = 400
    kind = "invalid_request_error"


class BannedPrompt(InvalidRequest):
    """A prompt the vendor refuses for a banned word (midjourney-proxy's code 24)."""

    default_code = "banned_prompt"

    def __init__(self, message: str, *, banned_word: str = "", code: str | None = None) -> None:
        super().__init__(message, code=code, param="prompt")
        self.banned_word = banned_word


class AuthenticationFailed(GatewayError):
    status = 401
    kind = "authentication_error"
    default_code = "invalid_api_key"


class PermissionDenied(GatewayError):
    status = 403
    kind = "permission_error"
    default_code = "model_not_allowed"


class NotFound(GatewayError):
    status = 404
    kind = "not_found_error"
    default_code = "not_found"


class ModelNotFound(NotFound):
    default_code = "model_not_found"


class Conflict(GatewayError):
    status = 409
    kind = "conflict_error"
    default_code = "conflict"


class PayloadTooLarge(GatewayError):
    status = 413
    kind = "request_too_large"
    default_code = "request_too_large"


class QuotaExceeded(GatewayError):
    status = 429
    kind = "insufficient_quota"
    default_code = "insufficient_quota"
    retryable = False


class RateLimited(GatewayError):
    status = 429
    kind = "rate_limit_error"
    default_code = "rate_limit_exceeded"
    retryable = True


class Unavailable(GatewayError):
    """The gateway itself cannot serve now (it is shutting down, its database is away)."""

    status = 503
    kind = "service_unavailable"
    default_code = "service_unavailable"
    retryable = True


class UpstreamError(GatewayError):
    status = 502
    kind = "upstream_error"
    default_code = "upstream_error"


class UpstreamTimeout(UpstreamError):
    status = 504
    kind = "timeout_error"
    default_code = "upstream_timeout"


class NoChannelAvailable(UpstreamError):
    status = 503
    kind = "service_unavailable"
    default_code = "no_channel_available"
