"""Fault and warning codes in words: every set bit named, the bits the sources dispute shown with each
reading, a bit nobody describes by its code alone."""

from __future__ import annotations

import pytest

from bridge.core.faults import (
    DISPUTED_FAULTS,
    DISPUTED_WARNINGS,
    FAULTS,
    WARNINGS,
    describe_faults,
    describe_warnings,
)
from bridge.core.readings import Runtime

pytestmark = pytest.mark.unit


@pytest.mark.parametrize(
    ("code", "text"),
    [
        (0, "none"),
        (1 << 12, "E012 UPS short circuit"),
        (1 << 12 | 1 << 16, "E012 UPS short circuit; E016 Relay failure"),
        (1 << 31, "E031 Internal communication failure 4"),
        (1 << 5, "E005 (no source describes it)"),
        (1 << 10, "E010 sources disagree: inconsistent rated power in the parallel system (pylxpweb, "
         "luxpower-ha-integration) or multiple master units (lxp-bridge); the vendor names both"),
    ],
)  # fmt: skip
def test_fault_bits_in_words(code: int, text: str) -> None:
    assert describe_faults(code) == text


def test_warning_bits_in_words_with_the_model_dependent_ones_said_so() -> None:
    assert describe_warnings(1 << 16 | 1 << 0) == "W000 Battery communication failed; W016 No grid connection"
    assert describe_warnings(1 << 13).startswith("W013 depends on the model: radiator temperature")


def test_every_bit_set_stays_within_what_home_assistant_keeps() -> None:
    text = describe_faults(0xFFFFFFFF)
    assert len(text) == 255
    assert text.startswith("E000 Internal communication failure 1; E001 Model fault; E002 described by")
    assert text.endswith("…")


def test_no_bit_is_both_agreed_and_disputed() -> None:
    assert not FAULTS.keys() & DISPUTED_FAULTS.keys()
    assert not WARNINGS.keys() & DISPUTED_WARNINGS.keys()
    assert max(FAULTS | DISPUTED_FAULTS) <= 31
    assert max(WARNINGS | DISPUTED_WARNINGS) <= 31


def test_a_runtime_read_through_the_registers_says_whether_a_fault_is_set() -> None:
    local = Runtime.model_validate({"serialNum": "4512345600", "faultCode": 1 << 19, "warningCode": 0})
    assert (local.faulted, local.faults, local.warnings) == (True, "E019 BUS overvoltage", "none")
    cloud = Runtime.model_validate({"serialNum": "4512345600"})  # the cloud's answer carries no codes
    assert (cloud.faulted, cloud.faults, cloud.warnings) == (None, None, None)
