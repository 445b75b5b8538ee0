"""What each parameter and sensor is: the single table read by validation, MQTT topics and discovery.

Plain data, no I/O. The cloud client uses it to validate before anything is sent, the coordinator to route
`/set` topics, and the discovery builder to describe entities to Home Assistant.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Final

from bridge.errors import ParameterValueError

#: The three register windows that together cover every holding register (0-366).
PARAMETER_WINDOWS: Final = ((0, 127), (127, 127), (240, 127))


@dataclass(frozen=True, slots=True)
class WritableParameter:
    """A holding register the bridge can read and write, with everything needed to expose it."""

    key: str
    name: str
    hold_param: str
    register: int
    topic_path: str
    minimum: int
    maximum: int
    step: int
    unit: str
    icon: str
    device_class: str
    #: The per-inverter config key that may lower `maximum` (`inverters.<serial>.max_charge_current`).
    limit_setting: str

    def validate(self, value: float | Decimal, *, maximum: int | None = None) -> int:
        """Return the integer to write, or raise `ParameterValueError` naming the parameter and range.

        The documented rule: round to the nearest step, refuse when that differs from the input by more
        than 0.01, refuse outside the range. Decimal arithmetic keeps `80.01` exactly 0.01 away from 80.
        """
        upper = self.maximum if maximum is None else min(self.maximum, maximum)
        exact = _as_decimal(value, self)
        if exact.adjusted() > 6:  # far out of any range; also keeps int() away from huge exponents
            raise ParameterValueError(
                f"{self.name} must be between {self.minimum} and {upper} {self.unit}, got {value}"
            )
        nearest = int(exact.to_integral_value())
        if abs(exact - nearest) > Decimal("0.01"):
            raise ParameterValueError(
                f"{self.name} must be a whole number of {self.unit} between {self.minimum} and {upper}, "
                f"got {value}"
            )
        if not self.minimum <= nearest <= upper:
            configured = " (the limit set in the bridge's config)" if upper < self.maximum else ""
            raise ParameterValueError(
                f"{self.name} must be between {self.minimum} and {upper} {self.unit}{configured}, got {value}"
            )
        return nearest

    def parse_cloud_value(self, raw: object) -> int:
        """Turn the cloud's text (`"200"`) into the integer it stands for, refusing anything else."""
        if isinstance(raw, bool) or not isinstance(raw, str | int | float):
            raise ParameterValueError(f"{self.hold_param} from the cloud is not a number: {raw!r}")
        try:
            return self.validate(Decimal(str(raw).strip()))
        except InvalidOperation as exc:
            raise ParameterValueError(f"{self.hold_param} from the cloud is not a number: {raw!r}") from exc


def _as_decimal(value: float | Decimal, parameter: WritableParameter) -> Decimal:
    if isinstance(value, bool):
        raise ParameterValueError(f"{parameter.name} must be a number, got {value!r}")
    if isinstance(value, float) and not math.isfinite(value):
        raise ParameterValueError(f"{parameter.name} must be a finite number, got {value}")
    exact = value if isinstance(value, Decimal) else Decimal(repr(value))
    if not exact.is_finite():
        raise ParameterValueError(f"{parameter.name} must be a finite number, got {value}")
    return exact


@dataclass(frozen=True, slots=True)
class Sensor:
    """A runtime value published read-only; `field` names the attribute of `bridge.cloud.models.Runtime`."""

    key: str
    name: str
    field: str
    topic_path: str
    unit: str | None
    device_class: str | None
    state_class: str = "measurement"
    icon: str | None = None
    #: Digits after the point in the published state: one number format per unit (amperes, like the
    #: settings, are whole numbers; volts have tenths).
    decimals: int = 0


BATTERY_CHARGE_CURRENT: Final = WritableParameter(
    key="battery_charge_current",
    name="Battery Charge Current",
    hold_param="HOLD_LEAD_ACID_CHARGE_RATE",
    register=101,
    topic_path="battery/charge_current",
    minimum=0,
    maximum=250,
    step=1,
    unit="A",
    icon="mdi:battery-plus",
    device_class="current",
    limit_setting="max_charge_current",
)

BATTERY_DISCHARGE_CURRENT: Final = WritableParameter(
    key="battery_discharge_current",
    name="Battery Discharge Current",
    hold_param="HOLD_LEAD_ACID_DISCHARGE_RATE",
    register=102,
    topic_path="battery/discharge_current",
    minimum=0,
    maximum=250,
    step=1,
    unit="A",
    icon="mdi:battery-minus",
    device_class="current",
    limit_setting="max_discharge_current",
)

WRITABLE_PARAMETERS: Final = (BATTERY_CHARGE_CURRENT, BATTERY_DISCHARGE_CURRENT)

SENSORS: Final = (
    Sensor("soc", "SOC", "soc", "battery/soc", "%", "battery"),
    Sensor(
        "battery_voltage", "Battery Voltage", "battery_voltage", "battery/voltage", "V", "voltage", decimals=1
    ),
    Sensor("battery_power", "Battery Power", "battery_power", "battery/power", "W", "power"),
    Sensor(
        "battery_temperature",
        "Battery Temperature",
        "battery_temperature",
        "battery/temperature",
        "°C",
        "temperature",
    ),
    Sensor(
        "bms_charge_current_limit",
        "BMS Charge Current Limit",
        "bms_charge_current_limit",
        "battery/bms_charge_current_limit",
        "A",
        "current",
    ),
    Sensor(
        "bms_discharge_current_limit",
        "BMS Discharge Current Limit",
        "bms_discharge_current_limit",
        "battery/bms_discharge_current_limit",
        "A",
        "current",
    ),
    Sensor("pv_power", "PV Power", "pv_power", "pv/power", "W", "power"),
    Sensor("grid_import_power", "Grid Import Power", "grid_import_power", "grid/import_power", "W", "power"),
    Sensor("grid_export_power", "Grid Export Power", "grid_export_power", "grid/export_power", "W", "power"),
)


def parameter_by_topic_path(topic_path: str) -> WritableParameter | None:
    """The writable parameter published under `topic_path` (`battery/charge_current`), if any."""
    return next((p for p in WRITABLE_PARAMETERS if p.topic_path == topic_path), None)


def window_of(register: int) -> tuple[int, int]:
    """The first of the three read windows that holds `register`."""
    for start, count in PARAMETER_WINDOWS:
        if start <= register < start + count:
            return start, count
    raise ValueError(f"register {register} lies outside every read window")
