from __future__ import annotations

import base64
import json
import time

import jwt
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from server import TokenError, Tokens
from server.auth import ROOM_AUDIENCE

SECRET = "a-test-secret-long-enough-for-hs256-keys"
SEED_TOKEN = (
    "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJfaWQiOjEsImlhdCI6MTYwMzE5ODkzMn0."
    "NvQoV9KeWuTNzRvzqbJ5uZCQ8Nmi2rCYQzcKk-WsJJ8"
)


@pytest.fixture
def tokens() -> Tokens:
    return Tokens(SECRET, room_token_ttl=60)


def _b64(data: dict[str, object]) -> str:
    raw = json.dumps(data, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def _signed(claims: dict[str, object], key: str = SECRET, **headers: object) -> str:
    return jwt.encode(claims, key, algorithm="HS256", headers=headers or None)


def test_user_token_round_trip(tokens: Tokens) -> None:
    user = tokens.user(tokens.user_token("alice", ttl=60))

    assert user.id == "alice"
    assert user.expires_at is not None and user.expires_at > time.time()


def test_seed_example_token_is_accepted_with_its_secret() -> None:
    user = Tokens("supersecret").user(SEED_TOKEN)

    assert user.id == "1"
    assert user.expires_at is None


def test_seed_example_token_is_refused_with_another_secret(tokens: Tokens) -> None:
    with pytest.raises(TokenError, match="signature"):
        tokens.user(SEED_TOKEN)


@pytest.mark.parametrize(
    ("token", "reason"),
    [
        (None, "missing"),
        ("", "missing"),
        (42, "missing"),
        ("garbage", "invalid"),
        ("a.b.c", "invalid"),
        ("x" * 9000, "too long"),
    ],
)
def test_malformed_user_tokens_are_refused(
    tokens: Tokens, token: object, reason: str
) -> None:
    with pytest.raises(TokenError, match=reason):
        tokens.user(token)


def test_unsigned_token_is_refused(tokens: Tokens) -> None:
    token = f"{_b64({'alg': 'none', 'typ': 'JWT'})}.{_b64({'sub': 'alice'})}."

    with pytest.raises(TokenError, match="HS256"):
        tokens.user(token)


@pytest.mark.parametrize("alg", ["HS384", "HS512"])
def test_other_hmac_algorithms_are_refused(tokens: Tokens, alg: str) -> None:
    token = jwt.encode({"sub": "alice"}, SECRET + "-and-longer-for-hs512-keys!!", alg)

    with pytest.raises(TokenError, match="HS256"):
        tokens.user(token)


def test_algorithm_claimed_in_header_but_signed_otherwise_is_refused(
    tokens: Tokens,
) -> None:
    header = _b64({"alg": "RS256", "typ": "JWT"})
    body = _b64({"sub": "alice"})
    forged = f"{header}.{body}.{_signed({'sub': 'alice'}).split('.')[2]}"

    with pytest.raises(TokenError, match="HS256"):
        tokens.user(forged)


@pytest.mark.parametrize("header", ["kid", "jku", "jwk", "x5u"])
def test_key_naming_headers_are_refused(tokens: Tokens, header: str) -> None:
    token = _signed({"sub": "alice"}, **{header: "https://keys.invalid/k"})

    with pytest.raises(TokenError, match="headers"):
        tokens.user(token)


def test_expired_user_token_is_refused(tokens: Tokens) -> None:
    token = _signed({"sub": "alice", "exp": int(time.time()) - 5})

    with pytest.raises(TokenError, match="expired"):
        tokens.user(token)


def test_not_yet_valid_user_token_is_refused(tokens: Tokens) -> None:
    token = _signed({"sub": "alice", "nbf": int(time.time()) + 600})

    with pytest.raises(TokenError, match="not valid yet"):
        tokens.user(token)


def test_token_signed_with_another_key_is_refused(tokens: Tokens) -> None:
    token = _signed({"sub": "alice"}, key="another-secret-of-enough-length-here")

    with pytest.raises(TokenError, match="signature"):
        tokens.user(token)


@pytest.mark.parametrize(
    "claims",
    [{}, {"sub": ""}, {"sub": ["alice"]}, {"_id": True}, {"sub": "x" * 300}],
)
def test_token_without_a_valid_user_is_refused(
    tokens: Tokens, claims: dict[str, object]
) -> None:
    with pytest.raises(TokenError):
        tokens.user(_signed(claims))


def test_room_token_is_valid_for_its_user_and_room(tokens: Tokens) -> None:
    token = tokens.room_token("alice", "/channels")

    tokens.check_room(token, "alice", "/channels")


def test_room_token_for_another_room_is_refused(tokens: Tokens) -> None:
    token = tokens.room_token("alice", "/channels/1")

    with pytest.raises(TokenError, match="another room"):
        tokens.check_room(token, "alice", "/channels/2")


def test_room_token_for_another_user_is_refused(tokens: Tokens) -> None:
    token = tokens.room_token("bob", "/channels")

    with pytest.raises(TokenError, match="another user"):
        tokens.check_room(token, "alice", "/channels")


def test_expired_room_token_is_refused(tokens: Tokens) -> None:
    claims = {
        "sub": "alice",
        "room": "/channels",
        "aud": ROOM_AUDIENCE,
        "exp": int(time.time()) - 1,
    }

    with pytest.raises(TokenError, match="expired"):
        tokens.check_room(_signed(claims), "alice", "/channels")


def test_room_token_without_expiry_is_refused(tokens: Tokens) -> None:
    claims = {"sub": "alice", "room": "/channels", "aud": ROOM_AUDIENCE}

    with pytest.raises(TokenError, match="exp"):
        tokens.check_room(_signed(claims), "alice", "/channels")


def test_user_token_is_never_a_room_token(tokens: Tokens) -> None:
    with pytest.raises(TokenError):
        tokens.check_room(tokens.user_token("alice"), "alice", "/channels")


def test_room_token_is_never_a_user_token(tokens: Tokens) -> None:
    with pytest.raises(TokenError, match="kind"):
        tokens.user(tokens.room_token("alice", "/channels"))


def test_tampered_room_token_is_refused(tokens: Tokens) -> None:
    header, _, signature = tokens.room_token("alice", "/channels/1").split(".")
    body = _b64({"sub": "alice", "room": "/channels/2", "aud": ROOM_AUDIENCE})

    with pytest.raises(TokenError, match="signature"):
        tokens.check_room(f"{header}.{body}.{signature}", "alice", "/channels/2")


def test_short_secret_tokens_raise_no_warning() -> None:
    short = Tokens("supersecret")

    assert short.secret_is_short
    assert short.user(short.user_token("alice")).id == "alice"


@settings(max_examples=200, deadline=None)
@given(st.one_of(st.text(max_size=300), st.binary(max_size=300).map(repr)))
def test_arbitrary_text_is_refused_with_token_error(text: str) -> None:
    with pytest.raises(TokenError):
        Tokens(SECRET).user(text)


@settings(max_examples=100, deadline=None)
@given(
    st.dictionaries(
        st.sampled_from(["sub", "_id", "exp", "nbf", "iat", "aud", "room"]),
        st.one_of(st.none(), st.integers(), st.text(max_size=20), st.booleans()),
    )
)
def test_arbitrary_claims_give_a_user_or_a_token_error(
    claims: dict[str, object],
) -> None:
    tokens = Tokens(SECRET)
    try:
        user = tokens.user(_signed(claims))
    except TokenError:
        return
    assert user.id == str(claims.get("sub", claims.get("_id")))
