"""The validation rule for battery currents, at its edges, and the catalogue's lookups."""

from __future__ import annotations

import math

import pytest

from bridge.catalogue import (
    BATTERY_CHARGE_CURRENT,
    BATTERY_DISCHARGE_CURRENT,
    WRITABLE_PARAMETERS,
    parameter_by_topic_path,
    window_of,
)
from bridge.errors import ParameterValueError


@pytest.mark.parametrize(
    ("given", "written"),
    [(0, 0), (250, 250), (250.004, 250), (80.01, 80), (79.99, 80), (80.0, 80), (1, 1)],
)
def test_values_within_the_rule_are_rounded_to_the_integer_written(given: float, written: int) -> None:
    """Within 0.01 of an integer and inside 0-250, the integer is what gets written."""
    assert BATTERY_CHARGE_CURRENT.validate(given) == written


@pytest.mark.parametrize(
    ("given", "reason"),
    [
        (250.5, "must be a whole number of A between 0 and 250, got 250.5"),
        (80.02, "must be a whole number of A between 0 and 250, got 80.02"),
        (-1, "must be between 0 and 250 A, got -1"),
        (251, "must be between 0 and 250 A, got 251"),
        (1e300, "must be between 0 and 250 A, got 1e+300"),
        (math.nan, "must be a finite number, got nan"),
        (math.inf, "must be a finite number, got inf"),
        (-math.inf, "must be a finite number, got -inf"),
    ],
)
def test_values_outside_the_rule_are_refused_naming_parameter_value_and_range(
    given: float, reason: str
) -> None:
    """Every refusal names the parameter, the value given and the allowed range or kind."""
    with pytest.raises(ParameterValueError) as refused:
        BATTERY_DISCHARGE_CURRENT.validate(given)
    assert str(refused.value) == f"Battery Discharge Current {reason}"


def test_a_lower_configured_maximum_narrows_the_range() -> None:
    """A configured limit below 250 A is enforced and named in the refusal."""
    assert BATTERY_CHARGE_CURRENT.validate(100, maximum=100) == 100
    with pytest.raises(ParameterValueError, match=r"100 A \(the limit set in the bridge's config\), got 101"):
        BATTERY_CHARGE_CURRENT.validate(101, maximum=100)


def test_booleans_are_not_numbers() -> None:
    """`True` is an int to Python, but never a current."""
    with pytest.raises(ParameterValueError, match="must be a number"):
        BATTERY_CHARGE_CURRENT.validate(True)


@pytest.mark.parametrize(("raw", "value"), [("200", 200), ("25", 25), (80, 80), ("250.0", 250)])
def test_cloud_text_parses_to_the_integer_it_stands_for(raw: object, value: int) -> None:
    assert BATTERY_CHARGE_CURRENT.parse_cloud_value(raw) == value


@pytest.mark.parametrize("raw", ["", "abc", "300", None, True, [1]])
def test_cloud_values_that_are_not_valid_currents_are_refused(raw: object) -> None:
    with pytest.raises(ParameterValueError):
        BATTERY_CHARGE_CURRENT.parse_cloud_value(raw)


def test_catalogue_rows_match_the_documented_table() -> None:
    """The first two rows: registers, holdParams, topic paths, ranges, icons."""
    rows = {
        (p.hold_param, p.register, p.topic_path, int(p.minimum), int(p.maximum), int(p.step), p.unit, p.icon)
        for p in WRITABLE_PARAMETERS
    }
    assert rows == {
        ("HOLD_LEAD_ACID_CHARGE_RATE", 101, "battery/charge_current", 0, 250, 1, "A", "mdi:battery-plus"),
        (
            "HOLD_LEAD_ACID_DISCHARGE_RATE",
            102,
            "battery/discharge_current",
            0,
            250,
            1,
            "A",
            "mdi:battery-minus",
        ),
    }


def test_lookups_by_topic_path_and_window() -> None:
    assert parameter_by_topic_path("battery/charge_current") is BATTERY_CHARGE_CURRENT
    assert parameter_by_topic_path("battery/soc") is None
    assert window_of(101) == (0, 127)
    assert window_of(227) == (127, 127)
    assert window_of(300) == (240, 127)
    with pytest.raises(ValueError, match="outside every read window"):
        window_of(400)


def test_every_register_lies_in_exactly_one_window_at_its_edges() -> None:
    assert window_of(0) == (0, 127)
    assert window_of(126) == (0, 127)
    assert window_of(127) == (127, 127)
    assert window_of(253) == (127, 127)
    assert window_of(254) == (240, 127)
    assert window_of(366) == (240, 127)
    with pytest.raises(ValueError, match="register 367 lies outside every read window"):
        window_of(367)


@pytest.mark.parametrize("raw", ["abc", [80], None, True])
def test_a_cloud_value_that_is_no_number_is_named_in_the_refusal(raw: object) -> None:
    with pytest.raises(ParameterValueError) as refused:
        BATTERY_CHARGE_CURRENT.parse_cloud_value(raw)
    assert str(refused.value) == f"HOLD_LEAD_ACID_CHARGE_RATE from the cloud is not a number: {raw!r}"


def test_a_decimal_that_is_not_finite_is_refused_by_name() -> None:
    from decimal import Decimal

    with pytest.raises(ParameterValueError) as refused:
        BATTERY_CHARGE_CURRENT.validate(Decimal("NaN"))
    assert str(refused.value) == "Battery Charge Current must be a finite number, got NaN"
