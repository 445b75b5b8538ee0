"""JSON from outside: refused with a reason when too large, too deep or not JSON; parsed otherwise."""

from __future__ import annotations

import pytest

from bridge.core import safejson

pytestmark = pytest.mark.unit


def test_a_document_as_deep_as_allowed_is_parsed_and_one_level_more_refused() -> None:
    assert safejson.loads("[" * 32 + "]" * 32, max_bytes=100) is not None
    assert safejson.loads("[" * 4 + "]" * 4, max_bytes=100, max_depth=4) == [[[[]]]]
    with pytest.raises(safejson.JsonRefusedError, match="nested more than 4 levels deep"):
        safejson.loads("[" * 5 + "]" * 5, max_bytes=100, max_depth=4)


def test_brackets_inside_strings_do_not_count() -> None:
    text = '{"a": "[[[[[[[[[[\\"[[[[[", "b": [1]}'
    assert safejson.loads(text, max_bytes=100, max_depth=2) == {"a": '[[[[[[[[[["[[[[[', "b": [1]}


def test_a_hundred_thousand_brackets_are_refused_not_a_recursion_error() -> None:
    with pytest.raises(safejson.JsonRefusedError, match="nested more than 32 levels deep"):
        safejson.loads("[" * 100_000, max_bytes=1_000_000)


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (b"x" * 101, "is 101 bytes long, more than the 100 accepted"),
        (b"{nope", "not valid JSON"),
        (b"\xff", "invalid start byte"),
    ],
)
def test_too_large_invalid_or_not_utf8_is_a_value_error_with_the_reason(data: bytes, reason: str) -> None:
    with pytest.raises(ValueError, match=reason):
        safejson.loads(data, max_bytes=100)
