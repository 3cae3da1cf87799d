"""Opaque page tokens: a connector's cursor, bound to the query it came from."""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any

from .exceptions import InvalidPageToken

__all__ = ["decode_token", "encode_token"]

_VERSION = 1
# Long enough for keys of several kilobytes, short enough for a URL.
_MAX_TOKEN_LENGTH = 32768


def encode_token(fingerprint: str, cursor: Any) -> str:
    data = json.dumps([_VERSION, fingerprint, cursor], separators=(",", ":"))
    return base64.urlsafe_b64encode(data.encode()).decode().rstrip("=")


def decode_token(token: str, fingerprint: str) -> Any:
    """The cursor inside ``token``; ``InvalidPageToken`` if it is not this query's."""
    if not isinstance(token, str) or not 0 < len(token) <= _MAX_TOKEN_LENGTH:
        raise InvalidPageToken("page token must be a non-empty string")
    try:
        padded = token + "=" * (-len(token) % 4)
        version, bound_to, cursor = json.loads(
            base64.urlsafe_b64decode(padded.encode("ascii"))
        )
    except (ValueError, TypeError, binascii.Error, UnicodeError, RecursionError):
        raise InvalidPageToken("page token is malformed") from None
    if version != _VERSION or bound_to != fingerprint:
        raise InvalidPageToken("page token belongs to another query")
    return cursor
