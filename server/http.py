"""REST plumbing: JSON in and out, bearer authentication, bounded bodies."""

from __future__ import annotations

import json
import logging
from typing import Any

import tornado.web

import orm

from .auth import Tokens, User
from .errors import (
    ApiError,
    BadRequest,
    NotFound,
    PayloadTooLarge,
    ServiceUnavailable,
    TokenError,
    Unauthorized,
)

__all__ = ["ApiHandler", "NotFoundHandler", "log_request"]

log = logging.getLogger("roomcast.server")
access_log = logging.getLogger("roomcast.access")

# A body past the limit is read and dropped up to this size, so the client
# gets its 413 instead of a reset; beyond it the connection is closed.
DISCARD_LIMIT = 64 * 1024 * 1024


_ACCESS_LEVELS = {1: logging.DEBUG, 2: logging.DEBUG, 3: logging.DEBUG, 4: logging.INFO}


def log_request(handler: tornado.web.RequestHandler) -> None:
    """Access log: successes at DEBUG, client errors at INFO, 503 (a backend
    down, warned about already) at WARNING, other failures at ERROR."""
    status = handler.get_status()
    level = _ACCESS_LEVELS.get(status // 100, logging.ERROR)
    if status == 503:
        level = logging.WARNING
    if access_log.isEnabledFor(level):
        request = handler.request
        access_log.log(
            level,
            "%d %s %s %.1fms",
            status,
            request.method,
            request.path,
            1000 * request.request_time(),
        )


@tornado.web.stream_request_body
class ApiHandler(tornado.web.RequestHandler):
    """Base of the JSON handlers; subclasses read ``self.user`` and ``self.json()``."""

    requires_user = True

    def initialize(self, tokens: Tokens, max_body: int, **context: Any) -> None:
        self.tokens = tokens
        self.max_body = max_body
        self.context = context
        self.user: User | None = None
        self._chunks: list[bytes] = []
        self._received = 0
        self._too_large = False

    def set_default_headers(self) -> None:
        self.set_header("Content-Type", "application/json; charset=utf-8")
        self.set_header("Cache-Control", "no-store")

    async def prepare(self) -> None:
        declared = self.request.headers.get("Content-Length")
        if declared is not None and declared.isdigit():
            size = int(declared)
            if size > DISCARD_LIMIT:
                self.set_header("Connection", "close")
                raise PayloadTooLarge(f"request body is over {self.max_body} bytes")
            self.request.connection.set_max_body_size(max(size, self.max_body))  # type: ignore[union-attr]
            self._too_large = size > self.max_body
        else:
            self.request.connection.set_max_body_size(DISCARD_LIMIT)  # type: ignore[union-attr]
        if self.requires_user:
            self.user = self._authenticate()

    def data_received(self, chunk: bytes) -> None:
        self._received += len(chunk)
        if self._received > self.max_body:
            self._too_large = True
            self._chunks.clear()
        elif not self._too_large:
            self._chunks.append(chunk)

    def _authenticate(self) -> User:
        header = self.request.headers.get("Authorization", "")
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthorized("send Authorization: Bearer <user token>")
        try:
            return self.tokens.user(token.strip())
        except TokenError as exc:
            raise Unauthorized(str(exc)) from None

    @property
    def user_id(self) -> str:
        assert self.user is not None
        return self.user.id

    def json(self) -> dict[str, Any]:
        """The request body as a JSON object, or a 400/413."""
        if self._too_large:
            raise PayloadTooLarge(f"request body is over {self.max_body} bytes")
        body = b"".join(self._chunks)
        if not body:
            raise BadRequest("request body must be a JSON object")
        try:
            data = json.loads(body)
        except (UnicodeDecodeError, ValueError):
            raise BadRequest("request body is not valid JSON") from None
        except RecursionError:
            raise BadRequest("request body is nested too deeply") from None
        if not isinstance(data, dict):
            raise BadRequest("request body must be a JSON object")
        return data

    def reply(self, data: Any, status: int = 200) -> None:
        self.set_status(status)
        self.finish(json.dumps(data, ensure_ascii=False, separators=(",", ":")))

    def write_error(self, status_code: int, **kwargs: Any) -> None:
        # Tornado calls this for every failed request; answer in our JSON.
        exc = kwargs.get("exc_info", (None, None, None))[1]
        error = _api_error(exc, status_code, self._reason)
        self.set_status(error.status)
        if error.status == 401:
            self.set_header("WWW-Authenticate", 'Bearer realm="roomcast"')
        body = {"error": {"code": error.code, "message": error.message}}
        self.finish(json.dumps(body, ensure_ascii=False, separators=(",", ":")))

    def log_exception(self, typ: Any, value: Any, tb: Any) -> None:
        if isinstance(
            value,
            (ApiError, tornado.web.HTTPError, orm.QueryError, orm.ValidationError),
        ):
            return
        if isinstance(value, orm.DatabaseUnavailable):
            log.warning("database unavailable: %s", value)
            return
        log.error(
            "unhandled error on %s %s",
            self.request.method,
            self.request.path,
            exc_info=(typ, value, tb),
        )


class NotFoundHandler(ApiHandler):
    requires_user = False

    async def prepare(self) -> None:
        await super().prepare()
        raise NotFound("no such endpoint")


def _api_error(exc: Any, status: int, reason: str) -> ApiError:
    """What the client is told about ``exc``; internals stay in the log."""
    if isinstance(exc, ApiError):
        return exc
    if isinstance(exc, orm.DatabaseUnavailable):
        return ServiceUnavailable("the database is unavailable, try again shortly")
    if isinstance(exc, orm.InvalidPageToken):
        return BadRequest("page_token is invalid")
    if isinstance(exc, orm.NotFound):
        return NotFound("not found")
    if isinstance(exc, orm.ValidationError):
        return BadRequest(str(exc))
    if isinstance(exc, orm.QueryError):
        return BadRequest("the query cannot be served")
    error = ApiError("internal error" if status >= 500 else reason or "error")
    error.status = status
    error.code = _CODES.get(status, "internal_error" if status >= 500 else "error")
    return error


_CODES = {400: "bad_request", 404: "not_found", 405: "method_not_allowed"}
