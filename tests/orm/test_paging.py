# Tests state the expected value first, as a literal where it is one.
from __future__ import annotations

import base64
import json
import string
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from orm import InvalidPageToken, QueryError
from orm.paging import decode_token, encode_token

FINGERPRINT = "0123456789abcdef"
OTHER = "fedcba9876543210"
B64_ALPHABET = string.ascii_letters + string.digits + "-_"

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False)
    | st.text(st.characters(exclude_categories=["Cs"])),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.text(max_size=5), children, max_size=4)
    ),
    max_leaves=20,
)


def _raw_token(payload: Any) -> str:
    """A token made by hand, the way a client could forge one."""
    text = payload if isinstance(payload, str) else json.dumps(payload)
    return base64.urlsafe_b64encode(text.encode()).decode().rstrip("=")


@settings(max_examples=100, deadline=None)
@given(json_values)
def test_any_json_cursor_round_trips(cursor: Any) -> None:
    token = encode_token(FINGERPRINT, cursor)

    assert cursor == decode_token(token, FINGERPRINT)


@pytest.mark.parametrize(
    "cursor", [["a", 1, 2.5], [None], {"k": "v"}, "é😀", 0, [[], {}]]
)
def test_typical_cursors_round_trip(cursor: Any) -> None:
    assert cursor == decode_token(encode_token(FINGERPRINT, cursor), FINGERPRINT)


@settings(deadline=None)
@given(json_values)
def test_tokens_are_url_safe_text_without_padding(cursor: Any) -> None:
    token = encode_token(FINGERPRINT, cursor)

    assert set(token) <= set(B64_ALPHABET)


def test_a_token_of_another_query_is_refused() -> None:
    token = encode_token(OTHER, ["x", 1])

    with pytest.raises(InvalidPageToken, match="belongs to another query"):
        decode_token(token, FINGERPRINT)


def test_a_token_of_another_version_is_refused() -> None:
    token = _raw_token([2, FINGERPRINT, ["x"]])

    with pytest.raises(InvalidPageToken, match="belongs to another query"):
        decode_token(token, FINGERPRINT)


@settings(max_examples=50, deadline=None)
@given(json_values, st.data())
def test_every_truncated_token_is_refused(cursor: Any, data: st.DataObject) -> None:
    token = encode_token(FINGERPRINT, cursor)
    end = data.draw(st.integers(0, len(token) - 1))

    with pytest.raises(InvalidPageToken):
        decode_token(token[:end], FINGERPRINT)


@settings(max_examples=100, deadline=None)
@given(st.integers(6, 25), st.sampled_from(B64_ALPHABET))
def test_a_token_with_its_fingerprint_tampered_is_refused(at: int, new: str) -> None:
    # Characters 6 to 25 of the token encode only bytes of the fingerprint.
    token = encode_token(FINGERPRINT, ["x", 1])
    tampered = token[:at] + new + token[at + 1 :]

    if tampered == token:
        assert ["x", 1] == decode_token(tampered, FINGERPRINT)
    else:
        with pytest.raises(InvalidPageToken):
            decode_token(tampered, FINGERPRINT)


@pytest.mark.parametrize(
    "payload",
    [
        [1, FINGERPRINT],
        [1, FINGERPRINT, "cursor", "extra"],
        [FINGERPRINT],
        [],
        {"version": 1, "fingerprint": FINGERPRINT, "cursor": 1},
        "not json",
        "1",
        "null",
        "[1,",
        '"abc"',
        [None, FINGERPRINT, 1],
        [1, None, 1],
        ["1", FINGERPRINT, 1],
    ],
)
def test_a_token_with_the_wrong_shape_is_refused(payload: Any) -> None:
    with pytest.raises(InvalidPageToken):
        decode_token(_raw_token(payload), FINGERPRINT)


@pytest.mark.parametrize(
    "token",
    ["", "!!!!", "a", "é", "abc=def", "a b", "\x00", "😀", "====", "%%"],
)
def test_a_malformed_token_is_refused(token: str) -> None:
    with pytest.raises(InvalidPageToken):
        decode_token(token, FINGERPRINT)


def test_a_token_that_is_not_utf8_is_refused() -> None:
    token = base64.urlsafe_b64encode(b"\xff\xfe[1]").decode()

    with pytest.raises(InvalidPageToken, match="malformed"):
        decode_token(token, FINGERPRINT)


@pytest.mark.parametrize("token", [None, 5, 1.5, b"bytes", ["token"], {"t": 1}, True])
def test_a_token_that_is_not_a_string_is_refused(token: Any) -> None:
    with pytest.raises(InvalidPageToken, match="non-empty string"):
        decode_token(token, FINGERPRINT)


def test_a_huge_token_is_refused_before_it_is_decoded() -> None:
    with pytest.raises(InvalidPageToken, match="non-empty string"):
        decode_token("A" * 1_000_000, FINGERPRINT)


def test_a_token_nested_deep_enough_to_exhaust_recursion_is_refused() -> None:
    token = _raw_token("[" * 6000)

    assert len(token) <= 8192
    with pytest.raises(InvalidPageToken):
        decode_token(token, FINGERPRINT)


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_arbitrary_text_is_refused_as_a_token(text: str) -> None:
    with pytest.raises(InvalidPageToken):
        decode_token(text, FINGERPRINT)


@settings(max_examples=200, deadline=None)
@given(json_values)
def test_arbitrary_json_is_refused_unless_it_is_this_querys_token(
    payload: Any,
) -> None:
    with pytest.raises(InvalidPageToken):
        decode_token(_raw_token(payload), FINGERPRINT)


def test_invalid_page_token_is_a_query_error() -> None:
    with pytest.raises(QueryError):
        decode_token("", FINGERPRINT)
