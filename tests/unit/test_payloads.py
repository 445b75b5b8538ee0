"""The payload rule (`read_number`): the bytes of a /set in, a number or the reason to refuse them out."""

from __future__ import annotations

from decimal import Decimal

import pytest

from bridge.core.catalogue import BATTERY_CHARGE_CURRENT
from bridge.core.commands import MAX_PAYLOAD_BYTES, read_number
from bridge.core.errors import CommandRefused

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("payload", "number"),
    [
        ("80", "80"),
        (" 80\n", "80"),
        ("+80", "80"),
        ("080", "80"),
        ("007", "7"),
        ("00", "0"),
        ("80.", "80"),
        (".5e2", "50"),
        ("8E1", "80"),
        ("-0", "0"),
        pytest.param("0" * (MAX_PAYLOAD_BYTES - 2) + "80", "80", id="exactly the longest payload"),
    ],
)
def test_numbers_in_every_decimal_notation_are_read(payload: str, number: str) -> None:
    """The rule, as the README says it: a decimal number, optionally signed, with or without a fraction or
    an exponent; leading zeros are allowed (`007` is 7)."""
    assert read_number(payload.encode(), BATTERY_CHARGE_CURRENT) == Decimal(number)


@pytest.mark.parametrize(
    ("payload", "reason"),
    [
        (b"", "empty payload: send a number of A, such as 80"),
        (b"   ", "empty payload: send a number of A, such as 80"),
        (b"0x50", "Battery Charge Current must be a number such as 80, got '0x50'"),
        (b"1_000", "Battery Charge Current must be a number such as 80, got '1_000'"),
        (b"80 A", "Battery Charge Current must be a number such as 80, got '80 A'"),
        ("٨٠".encode(), "Battery Charge Current must be a number such as 80, got '٨٠'"),
        (b"nan", "Battery Charge Current must be a finite number, got nan"),
        (b"-Infinity", "Battery Charge Current must be a finite number, got -Infinity"),
        pytest.param(
            b"a" * 40,
            f"Battery Charge Current must be a number such as 80, got {'a' * 32!r}",
            id="quoted up to 32 characters",
        ),
        pytest.param(b"x" * 65, f"payload too long (65 bytes; at most {MAX_PAYLOAD_BYTES})", id="too long"),
        pytest.param(b"\xff", "payload is not UTF-8 text", id="binary"),
        pytest.param(b"\xff\xfe80", "payload is not UTF-8 text", id="binary before digits"),
    ],
)
def test_anything_else_is_refused_saying_why(payload: bytes, reason: str) -> None:
    with pytest.raises(CommandRefused) as refused:
        read_number(payload, BATTERY_CHARGE_CURRENT)
    assert str(refused.value) == reason
