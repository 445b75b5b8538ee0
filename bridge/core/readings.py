"""What is read of an inverter, whichever transport read it: typed models in the vendor's field names
(the cloud answers in them; the register tables decode to them). Parsing and scaling happen here, once;
no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any, Final, TypeVar

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from bridge.core.errors import MalformedResponseError, ValueUnreadable
from bridge.core.faults import describe_faults, describe_warnings
from bridge.core.kinds import Setting

GRIDBOSS_DEVICE_TYPE = 9
#: The vendor's names for what the identity registers hold, so that one parser reads every transport's.
DEVICE_TYPE_CODE: Final = "HOLD_DEVICE_TYPE_CODE"
POWER_RATING: Final = "HOLD_MODEL_powerRating"
#: The model of an inverter known from the config alone, until its registers say which it is.
UNIDENTIFIED_MODEL: Final = "inverter"
NO_BMS_TEMPERATURE = 127

#: A parameter's value in the vendor's terms: `HOLD_*` text, `FUNC_*` booleans, a few integers.
ParameterValue = str | bool | int | float


class VendorModel(BaseModel):
    """A shape in the vendor's field names, which the cloud answers in and the register tables decode to."""

    model_config = ConfigDict(populate_by_name=True, extra="ignore", frozen=True)


class InverterInfo(VendorModel):
    """One device of a plant, as the login answer lists it."""

    #: Checked by the bridge, not here: one device with an unusable serial must not fail the whole login.
    serial: str = Field(alias="serialNum")
    model: str = Field(alias="deviceTypeText")
    device_type: int = Field(alias="deviceType")
    lost: bool = False
    fw_version: int | None = Field(default=None, alias="fwVersion")
    slave_version: int | None = Field(default=None, alias="slaveVersion")
    standard: str | None = None
    power_rating: int | None = Field(default=None, alias="powerRating")
    battery_type: str | None = Field(default=None, alias="batteryType")
    plant_id: int = 0
    parallel_group: str | None = None

    @property
    def has_battery_parameters(self) -> bool:
        """GridBOSS / MID boxes are devices of the plant, but hold no battery settings."""
        return self.device_type != GRIDBOSS_DEVICE_TYPE

    @property
    def firmware(self) -> str | None:
        """The firmware code as the vendor writes it (`fAAB-2122`: standard, then both versions in hex)."""
        if self.standard is None or self.fw_version is None or self.slave_version is None:
            return None
        return f"{self.standard}-{self.slave_version:02X}{self.fw_version:02X}"


class Runtime(VendorModel):
    """Runtime values of one inverter, in engineering units. `None` where the transport gave nothing."""

    serial: str = Field(alias="serialNum")
    lost: bool = False
    status_text: str | None = Field(default=None, alias="statusText")
    soc: int | None = None
    battery_voltage: float | None = Field(default=None, alias="vBat")
    charge_power: int | None = Field(default=None, alias="pCharge")
    discharge_power: int | None = Field(default=None, alias="pDisCharge")
    battery_temperature: int | None = Field(default=None, alias="tBat")
    pv_power: int | None = Field(default=None, alias="ppv")
    grid_export_power: int | None = Field(default=None, alias="pToGrid")
    grid_import_power: int | None = Field(default=None, alias="pToUser")
    bms_charge_current_limit: float | None = Field(default=None, alias="maxChgCurrValue")
    bms_discharge_current_limit: float | None = Field(default=None, alias="maxDischgCurrValue")
    firmware: str | None = Field(default=None, alias="fwCode")
    pv1_power: int | None = Field(default=None, alias="ppv1")
    pv2_power: int | None = Field(default=None, alias="ppv2")
    pv3_power: int | None = Field(default=None, alias="ppv3")
    pv1_voltage: float | None = Field(default=None, alias="vpv1")
    pv2_voltage: float | None = Field(default=None, alias="vpv2")
    pv3_voltage: float | None = Field(default=None, alias="vpv3")
    grid_voltage: float | None = Field(default=None, alias="vacr")
    grid_frequency: float | None = Field(default=None, alias="fac")
    load_power: int | None = Field(default=None, alias="consumptionPower")
    eps_power: int | None = Field(default=None, alias="peps")
    inverter_temperature: int | None = Field(default=None, alias="tinner")
    radiator1_temperature: int | None = Field(default=None, alias="tradiator1")
    radiator2_temperature: int | None = Field(default=None, alias="tradiator2")
    #: Input registers 60-61 and 62-63, one bit per code: read through a dongle or an adapter only (the
    #: cloud's runtime answer carries neither).
    fault_code: int | None = Field(default=None, alias="faultCode")
    warning_code: int | None = Field(default=None, alias="warningCode")

    @field_validator(
        "battery_voltage",
        "bms_charge_current_limit",
        "bms_discharge_current_limit",
        "pv1_voltage",
        "pv2_voltage",
        "pv3_voltage",
        "grid_voltage",
        mode="after",
    )
    @classmethod
    def _tenths(cls, value: float | None) -> float | None:
        return None if value is None else round(value / 10, 1)

    @field_validator("grid_frequency", mode="after")
    @classmethod
    def _hundredths(cls, value: float | None) -> float | None:
        return None if value is None else round(value / 100, 2)

    @field_validator("battery_temperature", mode="after")
    @classmethod
    def _no_bms_reading(cls, value: int | None) -> int | None:
        return None if value == NO_BMS_TEMPERATURE else value

    @property
    def online(self) -> bool:
        return not self.lost

    @property
    def faults(self) -> str | None:
        """The fault codes set, in words; `None` when not read."""
        return None if self.fault_code is None else describe_faults(self.fault_code)

    @property
    def warnings(self) -> str | None:
        return None if self.warning_code is None else describe_warnings(self.warning_code)

    @property
    def faulted(self) -> bool | None:
        """Whether any fault code is set; `None` when not read."""
        return None if self.fault_code is None else self.fault_code != 0

    @property
    def battery_power(self) -> int | None:
        """Battery power in W, positive while charging."""
        if self.charge_power is None or self.discharge_power is None:
            return None
        return self.charge_power - self.discharge_power


class ParameterRead(VendorModel):
    """Every parameter of one inverter, merged from the three windows.

    `complete` is false when a window failed; its values are then those of its last good read, and
    `failed_windows` names the start register of each window that failed.
    """

    serial: str
    values: Mapping[str, ParameterValue]
    complete: bool
    failed_windows: tuple[int, ...] = ()

    def current(self, setting: Setting) -> str | None:
        """The setting's value as its canonical text, or `None` when missing or not a valid value."""
        try:
            return setting.from_fields(self.values)
        except (KeyError, ValueUnreadable):
            return None

    def has(self, setting: Setting) -> bool:
        """Whether this inverter's model has the setting: every parameter it reads is in the answer."""
        return all(name in self.values for name in setting.field_names)


class Energy(VendorModel):
    """Energy counters of one inverter, in kWh (the vendor counts tenths)."""

    serial: str = Field(alias="serialNum")
    pv_today: float | None = Field(default=None, alias="todayYielding")
    pv_total: float | None = Field(default=None, alias="totalYielding")
    charge_today: float | None = Field(default=None, alias="todayCharging")
    charge_total: float | None = Field(default=None, alias="totalCharging")
    discharge_today: float | None = Field(default=None, alias="todayDischarging")
    discharge_total: float | None = Field(default=None, alias="totalDischarging")
    import_today: float | None = Field(default=None, alias="todayImport")
    import_total: float | None = Field(default=None, alias="totalImport")
    export_today: float | None = Field(default=None, alias="todayExport")
    export_total: float | None = Field(default=None, alias="totalExport")
    load_today: float | None = Field(default=None, alias="todayUsage")
    load_total: float | None = Field(default=None, alias="totalUsage")

    @field_validator("*", mode="after")
    @classmethod
    def _tenths(cls, value: object) -> object:
        return (
            round(value / 10, 1) if isinstance(value, int | float) and not isinstance(value, bool) else value
        )


#: A module's id as a topic level: what its serial becomes (`Battery_ID_01` placeholders become `01`).
MODULE_ID: Final = re.compile(r"[A-Za-z0-9_-]{1,40}")
PLACEHOLDER_SERIAL: Final = re.compile(r"Battery_ID_(\d+)")


class BatteryModule(VendorModel):
    """One battery module behind an inverter, as its BMS reports it. Sources agree on every scale
    (pylxpweb, eg4_web_monitor, the cloud's own answers): volts /100, amperes /10, cell volts /1000 and
    cell temperatures /10."""

    serial: str = Field(alias="batterySn")
    index: int = Field(alias="batIndex")
    lost: bool = False
    voltage: float | None = Field(default=None, alias="totalVoltage")
    current: float | None = None
    soc: int | None = None
    soh: int | None = None
    full_capacity: int | None = Field(default=None, alias="currentFullCapacity")
    max_cell_temperature: float | None = Field(default=None, alias="batMaxCellTemp")
    min_cell_temperature: float | None = Field(default=None, alias="batMinCellTemp")
    max_cell_voltage: float | None = Field(default=None, alias="batMaxCellVoltage")
    min_cell_voltage: float | None = Field(default=None, alias="batMinCellVoltage")
    charge_current_limit: float | None = Field(default=None, alias="batChargeMaxCur")
    charge_voltage_reference: float | None = Field(default=None, alias="batChargeVoltRef")
    cycle_count: int | None = Field(default=None, alias="cycleCnt")
    firmware: str | None = Field(default=None, alias="fwVersionText")

    @field_validator("voltage", mode="after")
    @classmethod
    def _hundredths(cls, value: float | None) -> float | None:
        return None if value is None else round(value / 100, 2)

    @field_validator(
        "current",
        "max_cell_temperature",
        "min_cell_temperature",
        "charge_current_limit",
        "charge_voltage_reference",
        mode="after",
    )
    @classmethod
    def _tenths(cls, value: float | None) -> float | None:
        return None if value is None else round(value / 10, 1)

    @field_validator("max_cell_voltage", "min_cell_voltage", mode="after")
    @classmethod
    def _thousandths(cls, value: float | None) -> float | None:
        return None if value is None else round(value / 1000, 3)

    @property
    def module_id(self) -> str:
        """Stable across reads, usable as one topic level: the BMS serial, or the placeholder's number
        (`Battery_ID_01` -> `01`); a serial that could not be a topic level becomes its position."""
        placeholder = PLACEHOLDER_SERIAL.fullmatch(self.serial)
        if placeholder is not None:
            return f"{int(placeholder.group(1)):02d}"
        return self.serial if MODULE_ID.fullmatch(self.serial) else f"{self.index + 1:02d}"

    @property
    def cell_voltage_spread(self) -> float | None:
        """Max minus min cell voltage, V: the number owners watch for balance."""
        if self.max_cell_voltage is None or self.min_cell_voltage is None:
            return None
        return round(self.max_cell_voltage - self.min_cell_voltage, 3)


class BatteryBank(VendorModel):
    """Every module behind one inverter. An offline bank, or batteries that do not talk to the BMS
    bus, has no modules."""

    serial: str = Field(alias="serialNum")
    lost: bool = False
    modules: tuple[BatteryModule, ...] = Field(default=(), alias="batteryArray")


#: What a GridBOSS smart port is set to, by the number its runtime says (pylxpweb and eg4_web_monitor
#: agree; three captured GridBOSS parameter maps decode to the same).
SMART_PORT_MODES: Final = {0: "unused", 1: "smart_load", 2: "ac_couple"}


def _legs(payload: Mapping[str, Any], first: str, second: str) -> int | None:
    """The sum of two legs' values (L1 + L2), or `None` when either is missing."""
    one, two = payload.get(first), payload.get(second)
    if isinstance(one, bool) or isinstance(two, bool):
        raise TypeError(f"{first} or {second} is not a number")
    return None if one is None or two is None else int(one) + int(two)


class GridBossRuntime(VendorModel):
    """A GridBOSS (MID box): the grid, the load, the backup (UPS) side, a generator and four smart ports,
    from the cloud's `midbox/getMidboxRuntime`. Sources: pylxpweb (`MidboxData`, its recorded answers) and
    eg4_web_monitor's data mapping agree: volts /10, hertz /100, watts as they are, kWh /10; each leg (L1,
    L2) is given alone and the totals are their sums. The currents are not read: the sources dispute their
    scale (/10 in code, /100 in their text)."""

    serial: str = Field(alias="serialNum")
    lost: bool = False
    grid_voltage: float | None = Field(default=None, alias="gridRmsVolt")
    backup_voltage: float | None = Field(default=None, alias="upsRmsVolt")
    grid_frequency: float | None = Field(default=None, alias="gridFreq")
    grid_l1_power: int | None = Field(default=None, alias="gridL1ActivePower")
    grid_l2_power: int | None = Field(default=None, alias="gridL2ActivePower")
    grid_power: int | None = None
    load_power: int | None = None
    backup_power: int | None = None
    generator_power: int | None = None
    smart_port1_power: int | None = None
    smart_port2_power: int | None = None
    smart_port3_power: int | None = None
    smart_port4_power: int | None = None
    smart_port1_mode: str | None = None
    smart_port2_mode: str | None = None
    smart_port3_mode: str | None = None
    smart_port4_mode: str | None = None
    import_today: float | None = None
    export_today: float | None = None
    load_today: float | None = None
    backup_today: float | None = None

    @field_validator("grid_voltage", "backup_voltage", mode="after")
    @classmethod
    def _tenths(cls, value: float | None) -> float | None:
        return None if value is None else round(value / 10, 1)

    @field_validator("grid_frequency", mode="after")
    @classmethod
    def _hundredths(cls, value: float | None) -> float | None:
        return None if value is None else round(value / 100, 2)

    @property
    def online(self) -> bool:
        return not self.lost


def parse_gridboss(payload: Mapping[str, Any], serial: str) -> GridBossRuntime:
    """A GridBOSS runtime answer as `GridBossRuntime`: its `midboxData` flattened, each leg pair summed, and
    each smart port's mode named. Refused when malformed or for another device."""
    data = payload.get("midboxData") or {}
    if not isinstance(data, Mapping):
        raise MalformedResponseError(f"GridBOSS answer for {serial} has no midboxData object", serial=serial)
    try:
        flat = _flattened(payload, data, serial)
    except TypeError as exc:
        raise MalformedResponseError(
            f"GridBOSS answer for {serial} has unexpected fields: {exc}", serial=serial
        ) from exc
    return _parse_for(GridBossRuntime, "GridBOSS", flat, serial)


#: The answer's own fields taken as they are (scaled by the model).
_MIDBOX_AS_IS: Final = ("gridRmsVolt", "upsRmsVolt", "gridFreq", "gridL1ActivePower", "gridL2ActivePower")
#: Each total and the pair of legs it sums.
_MIDBOX_TOTALS: Final = {
    "grid_power": "grid",
    "load_power": "load",
    "backup_power": "ups",
    "generator_power": "gen",
    **{f"smart_port{port}_power": f"smartLoad{port}" for port in range(1, 5)},
}
#: Each of today's energy counters and the answer's name for it (tenths of kWh per leg).
_MIDBOX_TODAY: Final = {
    "import_today": "ToUser",
    "export_today": "ToGrid",
    "load_today": "Load",
    "backup_today": "Ups",
}


def _flattened(payload: Mapping[str, Any], data: Mapping[str, Any], serial: str) -> dict[str, Any]:
    flat: dict[str, Any] = {"serialNum": payload.get("serialNum", serial), "lost": payload.get("lost", False)}
    flat |= {name: data[name] for name in _MIDBOX_AS_IS if name in data}
    flat |= {
        total: _legs(data, f"{leg}L1ActivePower", f"{leg}L2ActivePower")
        for total, leg in _MIDBOX_TOTALS.items()
    }
    for port in range(1, 5):
        mode = data.get(f"smartPort{port}Status")
        flat[f"smart_port{port}_mode"] = (
            None if mode is None else SMART_PORT_MODES.get(mode, f"unknown ({mode})")
        )
    for field, name in _MIDBOX_TODAY.items():
        tenths = _legs(data, f"e{name}TodayL1", f"e{name}TodayL2")
        flat[field] = None if tenths is None else round(tenths / 10, 1)
    return flat


def parse_battery_bank(payload: Mapping[str, Any], serial: str) -> BatteryBank:
    """A battery answer as `BatteryBank`, refused when it is for another inverter or two modules share an
    id (their entities would overwrite each other)."""
    bank = _parse_for(BatteryBank, "battery", payload, serial)
    ids = [module.module_id for module in bank.modules]
    if len(set(ids)) != len(ids):
        raise MalformedResponseError(f"battery answer for {serial} names one module twice", serial=serial)
    return bank


def parse_energy(payload: Mapping[str, Any], serial: str) -> Energy:
    """An energy answer as `Energy`, refused when it is for another inverter."""
    return _parse_for(Energy, "energy", payload, serial)


_Answered = TypeVar("_Answered", Runtime, Energy, BatteryBank, GridBossRuntime)


def _parse_for(model: type[_Answered], what: str, payload: Mapping[str, Any], serial: str) -> _Answered:
    """One inverter's answer as `model`; malformed, or for another inverter than asked: refused."""
    try:
        parsed = model.model_validate({"serialNum": serial, **payload})
    except ValidationError as exc:
        raise MalformedResponseError(
            f"{what} answer for {serial} has unexpected fields: {first_problem(exc)}", serial=serial
        ) from exc
    if parsed.serial != serial:
        raise MalformedResponseError(
            f"{what} answer is for {parsed.serial}, but {serial} was asked for", serial=serial
        )
    return parsed


def parse_runtime(payload: Mapping[str, Any], serial: str) -> Runtime:
    """A runtime answer as `Runtime`. An offline inverter (fields missing) is a valid answer."""
    return _parse_for(Runtime, "runtime", payload, serial)


#: The most characters Home Assistant keeps of a sensor's state.
MAX_STATE_LENGTH: Final = 255
#: How the event log writes a time: the portal's local time, with no zone (pylxpweb `get_event_list`, its
#: `docs/luxpower-api.yaml` `EventListResponse`, live-validated 2026-07-16).
EVENT_TIME: Final = re.compile(r"\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}")


class Event(VendorModel):
    """One row of the cloud's event log (`analyze/event/list`). Field names as pylxpweb's CHANGELOG #236
    and eg4_web_monitor's `normalize_event_row` give them from live answers: `recordId` (not `eventId`),
    `event` the code (`E###` a fault, `W###` a warning), `renormalTime` (not `endTime`; null while ongoing),
    `status` `OPEN` / `CLOSE`. `eventType` (FAULT, WARNING, INFO, MIDBOX_WARNING) and `status` are open
    sets: an unknown value is passed on as it is."""

    record_id: int = Field(alias="recordId")
    serial: str | None = Field(default=None, alias="serialNum")
    code: str = Field(alias="event", min_length=1, max_length=16)
    text: str = Field(alias="eventText")
    type: str | None = Field(default=None, alias="eventType", max_length=40)
    start: str = Field(alias="startTime", pattern=EVENT_TIME.pattern)
    end: str | None = Field(default=None, alias="renormalTime", pattern=EVENT_TIME.pattern)
    #: Hours, as a string in the answer.
    duration_hours: float | None = Field(default=None, alias="faultDuration", ge=0)
    status: str | None = Field(default=None, max_length=40)

    @property
    def ongoing(self) -> bool | None:
        """Whether it has not ended yet: `OPEN`, or no end time; `None` for a status nobody has seen."""
        if self.status == "OPEN":
            return True
        if self.status == "CLOSE":
            return False
        return None if self.status is not None else self.end is None

    @property
    def summary(self) -> str:
        """Code and words (`E019 Bus voltage high`), cut to what Home Assistant keeps of a state."""
        return f"{self.code} {self.text}".strip()[:MAX_STATE_LENGTH]


class EventLog(VendorModel):
    """A page of the event log: how many events there are in all, and this page's rows, newest first (the
    order eg4_web_monitor's Last Event sensor relies on when it asks for one row; no source states it)."""

    total: int = Field(ge=0)
    rows: tuple[Event, ...]


def parse_last_event(payload: Mapping[str, Any], serial: str) -> Event | None:
    """The newest event of an event-log answer asked for one row: `None` when the inverter has none.
    Refused when malformed, when it says there are events but gives none, or when its row is another
    device's."""
    try:
        log_page = EventLog.model_validate(payload)
    except ValidationError as exc:
        raise MalformedResponseError(
            f"event log answer for {serial} has unexpected fields: {first_problem(exc)}", serial=serial
        ) from exc
    if not log_page.rows:
        if log_page.total:
            raise MalformedResponseError(
                f"event log answer for {serial} counts {log_page.total} events but lists none", serial=serial
            )
        return None
    newest = log_page.rows[0]
    if newest.serial not in (None, serial):
        raise MalformedResponseError(
            f"event log answer is for {newest.serial}, but {serial} was asked for", serial=serial
        )
    return newest


def first_problem(exc: ValidationError) -> str:
    """The first problem pydantic found, as `location: message`."""
    error = exc.errors()[0]
    location = ".".join(str(part) for part in error["loc"])
    return f"{location}: {error['msg']}"
