"""User tokens and room tokens: HS256 JWTs, each accepted only as itself.

A user token names its user in ``sub`` (or ``_id``, as older clients
send); ``exp`` is honoured when present. A room token is issued by this
server for one user and one room, carries the audience ``roomcast:room`` and
always expires. PyJWT refuses a token with an audience where none is
expected, so a room token never passes as a user token, and a user token,
having no such audience, never passes as a room token.
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import attrs
import jwt

from .errors import TokenError

__all__ = ["MIN_SECRET_BYTES", "ROOM_AUDIENCE", "Tokens", "User"]

ROOM_AUDIENCE = "roomcast:room"
MIN_SECRET_BYTES = 32
MAX_TOKEN_LENGTH = 8192
MAX_USER_ID_LENGTH = 256
# Headers that would name another key to check the signature with; this
# server has one key and never follows them, so a token carrying one is odd.
_KEY_HEADERS = frozenset({"kid", "jku", "jwk", "x5u", "x5c", "x5t", "crit"})


@attrs.frozen
class User:
    """An authenticated user, and when its token expires (if it does)."""

    id: str
    expires_at: float | None


class Tokens:
    """Issues and checks tokens with one shared secret."""

    def __init__(
        self,
        secret: str,
        *,
        room_token_ttl: int = 3600,
        clock: Callable[[], float] = time.time,
    ) -> None:
        if not secret:
            raise ValueError("the JWT secret must not be empty")
        self._key = secret.encode()
        self.room_token_ttl = room_token_ttl
        self._clock = clock

    @property
    def secret_is_short(self) -> bool:
        return len(self._key) < MIN_SECRET_BYTES

    def now(self) -> float:
        """The clock tokens are checked against, in seconds since the epoch."""
        return self._clock()

    def user_token(self, user_id: str, ttl: int = 24 * 3600) -> str:
        now = int(self._clock())
        return self._encode({"sub": user_id, "iat": now, "exp": now + ttl})

    def room_token(self, user_id: str, room: str) -> str:
        now = int(self._clock())
        claims = {
            "sub": user_id,
            "room": room,
            "aud": ROOM_AUDIENCE,
            "iat": now,
            "exp": now + self.room_token_ttl,
        }
        return self._encode(claims)

    def user(self, token: Any) -> User:
        """The user a user token names; ``TokenError`` saying why if refused."""
        claims = self._decode(token, audience=None, required=[])
        user_id = claims.get("sub", claims.get("_id"))
        if isinstance(user_id, bool) or not isinstance(user_id, (str, int)):
            raise TokenError("token names no user (sub)")
        user_id = str(user_id)
        if not user_id or len(user_id) > MAX_USER_ID_LENGTH:
            raise TokenError("token names no valid user")
        expires = claims.get("exp")
        return User(user_id, float(expires) if expires is not None else None)

    def check_room(self, token: Any, user_id: str, room: str) -> None:
        """Accept only a room token issued for this user and this room."""
        claims = self._decode(
            token, audience=ROOM_AUDIENCE, required=["exp", "sub", "room", "aud"]
        )
        if claims["room"] != room:
            raise TokenError("room token is for another room")
        if claims["sub"] != user_id:
            raise TokenError("room token is for another user")

    def _encode(self, claims: dict[str, Any]) -> str:
        with self._short_key_allowed():
            return jwt.encode(claims, self._key, algorithm="HS256")

    def _decode(
        self, token: Any, *, audience: str | None, required: list[str]
    ) -> dict[str, Any]:
        if not isinstance(token, str) or not token:
            raise TokenError("token is missing")
        if len(token) > MAX_TOKEN_LENGTH:
            raise TokenError("token is too long")
        try:
            header = jwt.get_unverified_header(token)
            if header.get("alg") != "HS256":
                raise TokenError("token must be signed with HS256")
            if _KEY_HEADERS & header.keys():
                raise TokenError("token headers naming keys are not accepted")
            with self._short_key_allowed():
                claims: dict[str, Any] = jwt.decode(
                    token,
                    self._key,
                    algorithms=["HS256"],
                    audience=audience,
                    options={"require": required},
                )
        except jwt.ExpiredSignatureError:
            raise TokenError("token has expired") from None
        except jwt.ImmatureSignatureError:
            raise TokenError("token is not valid yet") from None
        except jwt.InvalidAudienceError:
            raise TokenError("token is not of the expected kind") from None
        except jwt.InvalidSignatureError:
            raise TokenError("token signature is invalid") from None
        except jwt.MissingRequiredClaimError as exc:
            raise TokenError(f"token lacks the {exc.claim} claim") from None
        except jwt.InvalidTokenError as exc:
            raise TokenError(f"token is invalid ({_reason(exc)})") from None
        return claims

    @contextmanager
    def _short_key_allowed(self) -> Iterator[None]:
        # Short secrets are accepted (the seed's example uses one) and warned
        # about once at startup; PyJWT would warn again on every token.
        if not self.secret_is_short:
            yield
            return
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", jwt.InsecureKeyLengthWarning)
            yield


def _reason(exc: jwt.InvalidTokenError) -> str:
    # PyJWT's messages name the failed check without echoing the token.
    text = str(exc) or type(exc).__name__
    return text[:120]
