"""Errors of the server, each with what the client is told.

    ServerError
     ├── ApiError                       answered as {error: {code, message}}
     │    ├── BadRequest (ValueError)          400
     │    ├── Unauthorized                     401
     │    ├── Forbidden (PermissionError)      403
     │    ├── NotFound (LookupError)           404
     │    ├── Conflict                         409
     │    ├── PayloadTooLarge                  413
     │    └── ServiceUnavailable               503
     ├── TokenError (ValueError)        a user or room token that is refused
     └── SettingsError (ValueError)     configuration that cannot be used

An ``ApiError``'s message is meant for the client and never holds internals;
the log gets its own text.
"""

from __future__ import annotations

__all__ = [
    "ApiError",
    "BadRequest",
    "Conflict",
    "Forbidden",
    "NotFound",
    "PayloadTooLarge",
    "ServerError",
    "ServiceUnavailable",
    "SettingsError",
    "TokenError",
    "Unauthorized",
]


class ServerError(Exception):
    """Base of every error the server raises."""


class ApiError(ServerError):
    """An error answered to the client with its status, code and message."""

    status = 500
    code = "internal_error"

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class BadRequest(ApiError, ValueError):
    """The request is malformed or invalid."""

    status = 400
    code = "bad_request"


class Unauthorized(ApiError):
    """No valid user token."""

    status = 401
    code = "unauthorized"


class Forbidden(ApiError, PermissionError):
    """The user may not do this."""

    status = 403
    code = "forbidden"


class NotFound(ApiError, LookupError):
    """No such resource, or not one the user may see."""

    status = 404
    code = "not_found"


class Conflict(ApiError):
    """The request conflicts with the resource's state."""

    status = 409
    code = "conflict"


class PayloadTooLarge(ApiError):
    """The request body is over the limit."""

    status = 413
    code = "payload_too_large"


class ServiceUnavailable(ApiError):
    """A backend the request needs is down."""

    status = 503
    code = "unavailable"


class TokenError(ServerError, ValueError):
    """A token that is refused; the message says why, fit for the client."""


class SettingsError(ServerError, ValueError):
    """A setting that cannot be used; the message names it."""
