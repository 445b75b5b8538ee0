"""A parameter window's answer read at the boundary: only the names the bridge reads are kept and checked."""

from __future__ import annotations

import pytest

from bridge.core.errors import MalformedResponseError
from bridge.transports.cloud.answers import parameters_of
from bridge.transports.cloud.client import READ_NAMES

pytestmark = pytest.mark.unit

SERIAL = "4512345600"


def test_only_the_names_read_are_kept_and_an_odd_value_elsewhere_harms_nothing() -> None:
    answer = {
        "success": True,
        "inverterSn": SERIAL,
        "HOLD_LEAD_ACID_CHARGE_RATE": "60",
        "FUNC_EPS_EN": True,
        "HOLD_NOBODY_READS_THIS": {"nested": "odd"},
        "HOLD_MISSING_VALUE": None,
    }
    values = parameters_of(answer, SERIAL, READ_NAMES)
    assert values == {"HOLD_LEAD_ACID_CHARGE_RATE": "60", "FUNC_EPS_EN": True}


def test_a_read_name_of_the_wrong_type_is_a_malformed_answer_naming_it() -> None:
    answer = {"success": True, "HOLD_LEAD_ACID_CHARGE_RATE": ["60"]}
    with pytest.raises(
        MalformedResponseError, match="HOLD_LEAD_ACID_CHARGE_RATE of 4512345600 has an unexpected type: list"
    ):
        parameters_of(answer, SERIAL, READ_NAMES)


def test_a_read_name_absent_is_left_out_never_invented_and_a_null_one_is_malformed() -> None:
    assert parameters_of({"success": True}, SERIAL, READ_NAMES) == {}
    with pytest.raises(
        MalformedResponseError, match=r"HOLD_LEAD_ACID_CHARGE_RATE .* unexpected type: NoneType"
    ):
        parameters_of({"success": True, "HOLD_LEAD_ACID_CHARGE_RATE": None}, SERIAL, READ_NAMES)
