"""The simulated cloud's state: accounts, sessions, inverters with their registers, faults and counters.

Plain Python, no HTTP: `bridge.simulator.app` serves it. The register maps in `data/` list, for two real
inverter families, every parameter with its register and a real value; the device limits below are the
cloud's own rules, kept apart from the bridge's catalogue so that the two can disagree and tests can see it.
"""

from __future__ import annotations

import json
import math
import random
import secrets
import time
from collections import Counter
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from importlib import resources
from typing import Final

INVERTER_DEVICE_TYPE: Final = 6
GRIDBOSS_DEVICE_TYPE: Final = 9
MODELS: Final = ("18KPV", "FlexBOSS21", "12KPV")


@dataclass(frozen=True, slots=True)
class ModelProfile:
    """What a simulated model is built from: a captured register map, the device type code and power
    rating its registers say (pylxpweb's and eg4_web_monitor's codes), values that differ from the map's,
    and the parameters its firmware refuses to write (as the cloud answers them, REMOTE_SET_ERROR)."""

    register_map: str
    device_type_code: int
    power_rating: int
    values: tuple[tuple[str, str | bool], ...] = ()
    refused: tuple[str, ...] = ()
    #: Holding registers its firmware refuses to be written locally (ILLEGAL DATA ADDRESS).
    refused_registers: tuple[int, ...] = ()


#: The off-grid firmware refuses these through the cloud (eg4_web_monitor: REMOTE_SET_ERROR on a 12000XP
#: v2 for the AC charge SOC limit, the forced charge windows and battery backup).
_OFF_GRID_REFUSED: Final = (
    "HOLD_AC_CHARGE_SOC_LIMIT",
    "FUNC_BATTERY_BACKUP_CTRL",
    *(f"HOLD_FORCED_CHARGE_{edge}_{part}{suffix}" for edge in ("START", "END") for part in ("HOUR", "MINUTE")
      for suffix in ("", "_1", "_2")),
    # Not in an SNA12K's parameter list (pylxpweb's cloud probe): the cloud refuses a name it does not know.
    "_12K_HOLD_STOP_DISCHG_VOLT",
)  # fmt: skip
#: What an SNA12K holds where the 12KPV's map differs (pylxpweb's cloud probe): a fractional AC charge
#: start voltage among them. Register 66 reads 100 there (eg4_web_monitor), which the kW x10 reading makes
#: 10 kW.
_OFF_GRID_VALUES: Final = (
    ("HOLD_AC_CHARGE_POWER_CMD", "10"),
    ("HOLD_ON_GRID_EOD_VOLTAGE", "42"),
    ("HOLD_AC_CHARGE_START_BATTERY_VOLTAGE", "46.4"),
    ("HOLD_AC_CHARGE_END_BATTERY_VOLTAGE", "48"),
    ("HOLD_AC_CHARGE_START_BATTERY_SOC", "20"),
    ("HOLD_AC_CHARGE_END_BATTERY_SOC", "100"),
    ("HOLD_START_PV_VOLT", "6.5"),  # not volts there (pylxpweb's cloud probe of an SNA12K)
)
#: What an LXP-US 8-10K holds where the 12KPV's map differs (pylxpweb's cloud probe).
_LUXPOWER_VALUES: Final = (
    ("HOLD_P_TO_USER_START_DISCHG", "2500"),
    ("HOLD_AC_CHARGE_START_BATTERY_VOLTAGE", "48"),
    ("HOLD_AC_CHARGE_START_BATTERY_SOC", "5"),
    ("HOLD_ON_GRID_EOD_VOLTAGE", "40"),
    ("FUNC_BAT_SHARED", True),
    ("FUNC_PV_SELL_TO_GRID_EN", True),
    ("FUNC_AC_COUPLING_FUNCTION", True),
)
#: The models the simulator can be, by the cloud's name for each.
MODEL_PROFILES: Final = {
    "18KPV": ModelProfile("12KPV", 2092, 6),
    "12KPV": ModelProfile("12KPV", 2092, 2),
    "FlexBOSS21": ModelProfile("FlexBOSS21", 10284, 8),
    # Register 233 (battery backup, quick charge) refused through the dongle: eg4_web_monitor issue 296.
    "12000XP": ModelProfile("12KPV", 54, 6, _OFF_GRID_VALUES, _OFF_GRID_REFUSED, (233,)),
    "LXP-LB-8K": ModelProfile("12KPV", 44, 3, _LUXPOWER_VALUES),
}

#: The quick charge status answer's field (`quickCharge/getStatusInfo`, and the runtime answer), which the
#: registers hold in register 233 bit 0 (pylxpweb, luxpower-ha-integration).
QUICK_CHARGE_TASK: Final = "hasUnclosedQuickChargeTask"
#: How long a quick charge started through the registers runs: the firmware's default (pylxpweb: it sets
#: register 234 to 60 minutes). One started through the cloud without a duration runs until stopped.
QUICK_CHARGE_DEFAULT_SECONDS: Final = 3600.0
#: The first quick charge task's id (as the captured runtime answer numbers them).
FIRST_QUICK_CHARGE_TASK: Final = 568_147

#: The range the cloud enforces for the parameters owners write most, with the step of each.
DEVICE_LIMITS: Final[dict[str, tuple[Decimal, Decimal, Decimal]]] = {
    "HOLD_LEAD_ACID_CHARGE_RATE": (Decimal(0), Decimal(250), Decimal(1)),
    "HOLD_LEAD_ACID_DISCHARGE_RATE": (Decimal(0), Decimal(250), Decimal(1)),
    "HOLD_SYSTEM_CHARGE_SOC_LIMIT": (Decimal(10), Decimal(101), Decimal(1)),
    "HOLD_AC_CHARGE_POWER_CMD": (Decimal(0), Decimal(15), Decimal("0.1")),
    "HOLD_AC_CHARGE_SOC_LIMIT": (Decimal(0), Decimal(101), Decimal(1)),
    "HOLD_DISCHG_CUT_OFF_SOC_EOD": (Decimal(10), Decimal(90), Decimal(1)),
    "HOLD_SOC_LOW_LIMIT_EPS_DISCHG": (Decimal(0), Decimal(100), Decimal(1)),
    "HOLD_FORCED_DISCHG_POWER_CMD": (Decimal(0), Decimal("25.5"), Decimal("0.1")),
    "_12K_HOLD_GRID_PEAK_SHAVING_POWER": (Decimal(0), Decimal("25.5"), Decimal("0.1")),
    "HOLD_SYSTEM_CHARGE_VOLT_LIMIT": (Decimal(40), Decimal(64), Decimal("0.1")),
    "HOLD_FORCED_CHG_POWER_CMD": (Decimal(0), Decimal("25.5"), Decimal("0.1")),
    "HOLD_FORCED_CHG_SOC_LIMIT": (Decimal(0), Decimal(100), Decimal(1)),
    "HOLD_FORCED_DISCHG_SOC_LIMIT": (Decimal(0), Decimal(100), Decimal(1)),
    # Whole volts; the firmware refuses less than 140 V (eg4_web_monitor).
    "HOLD_START_PV_VOLT": (Decimal(140), Decimal(500), Decimal(1)),
    # Kilowatts despite the name (eg4_web_monitor, pylxpweb).
    "HOLD_FEED_IN_GRID_POWER_PERCENT": (Decimal(0), Decimal("25.5"), Decimal("0.1")),
}
#: Schedule boundaries: hours 0-23 and minutes 0-59, which the cloud stores as two digits.
CLOCK_PARTS: Final = {"_HOUR": 23, "_MINUTE": 59}
REMOTE_SET_ERROR: Final = "REMOTE_SET_ERROR"
#: Lifetime energy before the simulation began, in kWh, by the energy answer's name for it.
ENERGY_HISTORY_KWH: Final = {
    "Yielding": 12_840.5,
    "Charging": 4_210.2,
    "Discharging": 3_980.7,
    "Import": 2_305.1,
    "Export": 6_120.9,
    "Usage": 9_002.4,
}
DATAFRAME_TIMEOUT: Final = "DATAFRAME_TIMEOUT"

#: The kinds of fault a test can queue with `Faults.fail_next`.
FAULT_KINDS: Final = (
    "dataframe_timeout",  # success: false, DATAFRAME_TIMEOUT
    "http_500",  # HTTP 500 with a short text body
    "login_page",  # the HTML login page, as for an expired session
    "login_redirect",  # a 302 to the login page, the other way an expired session shows
    "http_401",  # 401 Unauthorized, the third
    "html_error",  # an HTML page that is not the login page (a proxy's error page)
    "truncated_json",  # JSON cut short
    "wrong_types",  # the right keys holding values of the wrong type
    "remote_set_error",  # success: false, REMOTE_SET_ERROR
    "write_not_applied",  # success: true, but the inverter keeps its old value
    "huge_body",  # an answer of several megabytes
    "deep_json",  # an answer nested 100,000 levels deep
)


def _load_register_map(family: str) -> dict[str, tuple[int, str | bool | int | None]]:
    text = resources.files("bridge.simulator").joinpath(f"data/registers_{family}.json").read_text("utf-8")
    return {name: (int(entry[0]), entry[1]) for name, entry in json.loads(text).items()}


@dataclass
class SimBattery:
    """One battery module behind an inverter; its values follow the inverter's SOC."""

    serial: str
    index: int
    lost: bool = False
    cycles: int = 58
    #: Millivolts apart its highest and lowest cells are.
    cell_spread_mv: int = 3


@dataclass
class SimEvent:
    """One row of an inverter's event log, in the cloud's terms: its code (`E019`), words and kind
    (`FAULT`, `WARNING`), when it began and ended (wall-clock seconds; `None` while ongoing)."""

    record_id: int
    code: str
    text: str
    kind: str
    started: float
    ended: float | None = None


@dataclass
class SimInverter:
    """One simulated inverter: its parameters, registers and the powers it simulates."""

    serial: str
    model: str
    device_type: int
    registers: dict[str, int]
    values: dict[str, str | bool | int | None]
    lost: bool = False
    soc: float = 70.0
    capacity_wh: float = 14_300.0
    pv_peak_w: float = 12_000.0
    bms_charge_limit_a: float = 60.0
    bms_discharge_limit_a: float = 100.0
    battery_temperature: int = 24
    last_update: float = field(default_factory=time.monotonic)
    powers: dict[str, int] = field(default_factory=dict)
    #: Energy since the simulator started, in Wh, by the energy answer's name for it (`Yielding`, ...).
    energy_wh: dict[str, float] = field(default_factory=dict)
    #: Parameters its firmware refuses to write.
    refused: frozenset[str] = frozenset()
    #: Its battery modules, as its BMS reports them.
    batteries: list[SimBattery] = field(default_factory=list)
    #: Input registers 60-61 and 62-63: one bit per fault and warning code (`/_sim/faults`).
    fault_code: int = 0
    warning_code: int = 0
    #: Its event log, oldest first (`/_sim/events`).
    events: list[SimEvent] = field(default_factory=list)
    #: Holding registers its firmware refuses to be written locally.
    refused_registers: frozenset[int] = frozenset()
    #: The open quick charge task's id, and when it ends by itself (`None`: when stopped).
    quick_charge_task: int | None = None
    quick_charge_ends: float | None = None

    @property
    def quick_charging(self) -> bool:
        if self.quick_charge_ends is not None and time.monotonic() >= self.quick_charge_ends:
            self.quick_charge_task = self.quick_charge_ends = None  # its time ran out
        return self.quick_charge_task is not None

    def energy_tenths(self) -> dict[str, int]:
        """The energy answer's counters in tenths of kWh: today's since start, totals on top of a history."""
        counters = {}
        for name, history_kwh in ENERGY_HISTORY_KWH.items():
            today = self.energy_wh.get(name, 0.0) / 100  # Wh to tenths of kWh
            counters[f"today{name}"] = round(today)
            counters[f"total{name}"] = round(history_kwh * 10 + today)
        return counters

    @property
    def has_battery_parameters(self) -> bool:
        return self.device_type != GRIDBOSS_DEVICE_TYPE

    def held_amperes(self, hold_param: str) -> float:
        try:
            return float(str(self.values.get(hold_param, "0")))
        except ValueError:
            return 0.0

    def advance(self, now: float) -> None:
        """Move PV, load and battery on by the time since the last look; SOC follows the battery's power."""
        elapsed = max(0.0, now - self.last_update)
        self.last_update = now
        volts = 51.2 + self.soc * 0.03
        phase = (now % 3600) / 3600  # one simulated day of sun per hour
        pv = max(0.0, self.pv_peak_w * math.sin(math.pi * phase))
        load = 900 + 300 * math.sin(now / 300)
        surplus = pv - load
        charge_a = min(self.held_amperes("HOLD_LEAD_ACID_CHARGE_RATE"), self.bms_charge_limit_a)
        discharge_a = min(self.held_amperes("HOLD_LEAD_ACID_DISCHARGE_RATE"), self.bms_discharge_limit_a)
        charge = min(surplus, charge_a * volts) if surplus > 0 and self.soc < 100 else 0.0
        discharge = min(-surplus, discharge_a * volts) if surplus < 0 and self.soc > 10 else 0.0
        self.soc = min(
            100.0, max(0.0, self.soc + (charge - discharge) * elapsed / 3600 / self.capacity_wh * 100)
        )
        for name, watts in (
            ("Yielding", pv),
            ("Charging", charge),
            ("Discharging", discharge),
            ("Import", max(0.0, -surplus - discharge)),
            ("Export", max(0.0, surplus - charge)),
            ("Usage", load),
        ):
            self.energy_wh[name] = self.energy_wh.get(name, 0.0) + watts * elapsed / 3600
        self.powers = {
            "ppv": round(pv),
            "pCharge": round(charge),
            "pDisCharge": round(discharge),
            "pToGrid": round(max(0.0, surplus - charge)),
            "pToUser": round(max(0.0, -surplus - discharge)),
            "vBat": round(volts * 10),
            "consumptionPower": round(load),
        }


@dataclass(frozen=True, slots=True)
class SlowWrite:
    """A write whose answer comes `answer_after` seconds late, and which is applied `apply_after` seconds
    after it arrived (0: at once), whether or not the client is still waiting for the answer."""

    answer_after: float
    apply_after: float = 0.0


@dataclass
class Faults:
    """Faults to inject: a fixed added latency, random rates, and a queue of exact failures to come."""

    latency_ms: float = 0.0
    dataframe_timeout_rate: float = 0.0
    http_500_rate: float = 0.0
    queued: list[tuple[str, str | None, int | None]] = field(default_factory=list)
    #: The next writes, one each, answered late and applied at a time of their own.
    slow_writes: list[SlowWrite] = field(default_factory=list)
    #: The next writes that are applied and then answered with the login page, as if the session ended
    #: between the two.
    login_page_after_write: int = 0
    #: The next writes, one each, refused with these texts (`success: false`), nothing applied.
    write_refusals: list[str] = field(default_factory=list)
    #: When set, every login is refused with this text (a locked account, say) instead of being checked.
    login_refusal: str | None = None
    #: When set, every event-log read is refused with this text (an account not allowed the log).
    events_refusal: str | None = None
    #: The next energy answers, one each, report every counter 5 kWh lower than it is (the cloud does
    #: this for a moment now and then).
    energy_dips: int = 0

    def fail_next(
        self, kind: str, count: int = 1, *, endpoint: str | None = None, start_register: int | None = None
    ) -> None:
        """Make the next `count` requests fail: to `endpoint` (a path suffix such as `remoteSet/write`)
        and, for parameter reads, to the window starting at `start_register`."""
        if kind not in FAULT_KINDS:
            raise ValueError(f"unknown fault {kind!r}; known: {', '.join(FAULT_KINDS)}")
        self.queued.extend([(kind, endpoint, start_register)] * count)

    def wants_window(self) -> bool:
        return any(start is not None for _kind, _endpoint, start in self.queued)

    def take(self, path: str, rng: random.Random, start_register: int | None = None) -> str | None:
        """The fault, if any, that the request to `path` (for the window at `start_register`) meets."""
        for index, (kind, endpoint, start) in enumerate(self.queued):
            if (endpoint is None or path.endswith(endpoint)) and start in (None, start_register):
                del self.queued[index]
                return kind
        if self.http_500_rate and rng.random() < self.http_500_rate:
            return "http_500"
        if self.dataframe_timeout_rate and rng.random() < self.dataframe_timeout_rate:
            return "dataframe_timeout"
        return None


DONGLE_FAULT_KINDS: Final = (
    "silence",
    "drop_mid_write",
    "misrouted_reply",
    "heartbeat_first",
    "exception",
    "exception_on_write",  # an exception reply to the next write request, whatever reads come first
    "silence_after_write",  # the next write is applied and never answered; the connection stays open
)
#: Faults that wait for a write request: reads (polls, pre-reads) pass them by.
WRITE_FAULTS: Final = ("drop_mid_write", "exception_on_write", "silence_after_write")


@dataclass
class DongleFaults:
    """What the simulated dongles do wrong, when asked to."""

    silent: bool = False
    latency_ms: float = 0.0
    #: The most registers one read may ask for; larger reads get an exception reply (older firmware).
    max_read: int = 127
    queued: list[str] = field(default_factory=list)

    def queue(self, kind: str, count: int = 1) -> None:
        if kind not in DONGLE_FAULT_KINDS:
            raise ValueError(f"unknown dongle fault {kind!r}; known: {', '.join(DONGLE_FAULT_KINDS)}")
        self.queued.extend([kind] * count)

    def take(self, *, write: bool) -> str | None:
        for index, kind in enumerate(self.queued):
            if kind not in WRITE_FAULTS or write:
                del self.queued[index]
                return kind
        return None


@dataclass
class SimulatorState:
    """Everything the simulated cloud knows. Tests and benchmarks read and steer it directly or over HTTP."""

    username: str = "demo"
    password: str = "demo"
    inverter_count: int = 2
    #: The inverters' models, in turn (the cloud's names: `MODEL_PROFILES`).
    models: tuple[str, ...] = MODELS
    gridboss: bool = False
    parallel: bool = False
    #: Battery modules behind each inverter.
    batteries: int = 0
    session_lifetime: float = 7200.0
    seed: int = 1
    plant_id: int = 4100
    plant_name: str = "Simulated Solar Station"
    faults: Faults = field(default_factory=Faults)
    #: Faults of the simulated dongles (`bridge.simulator.dongle`).
    dongle_faults: DongleFaults = field(default_factory=DongleFaults)
    requests: Counter[str] = field(default_factory=Counter)
    writes: list[tuple[str, str, str]] = field(default_factory=list)
    #: When each write request arrived (monotonic), applied or not.
    write_times: list[float] = field(default_factory=list)
    inverters: dict[str, SimInverter] = field(default_factory=dict)
    sessions: dict[str, float] = field(default_factory=dict)
    in_flight: int = 0
    peak_in_flight: int = 0
    #: Values written, by the transport they came through: `cloud` (HTTP), `dongle` (the dongle's port),
    #: `modbus_tcp` or `modbus_rtu`.
    writes_by_transport: Counter[str] = field(default_factory=Counter)
    #: The transport of each value in `writes`, in the same order.
    write_transports: list[str] = field(default_factory=list)
    #: The record id of the newest event of any inverter.
    last_record_id: int = 7_583_000
    #: The id of the newest quick charge task of any inverter.
    last_quick_charge_task: int = FIRST_QUICK_CHARGE_TASK - 1

    def __post_init__(self) -> None:
        self.rng = random.Random(self.seed)
        unknown = [model for model in self.models if model not in MODEL_PROFILES]
        if unknown or not self.models:
            raise ValueError(
                f"unknown model {', '.join(unknown) or '(none)'}; known: {', '.join(MODEL_PROFILES)}"
            )
        maps = {name: _load_register_map(name) for name in {p.register_map for p in MODEL_PROFILES.values()}}
        for index in range(self.inverter_count):
            model = self.models[index % len(self.models)]
            profile = MODEL_PROFILES[model]
            serial = f"{4512345600 + index:010d}"
            register_map = maps[profile.register_map]
            values = {name: value for name, (_register, value) in register_map.items()}
            values |= dict(profile.values)
            values |= {
                "HOLD_SERIAL_NUM": serial,
                "HOLD_DEVICE_TYPE_CODE": str(profile.device_type_code),
                "HOLD_MODEL_powerRating": profile.power_rating,
            }
            self.inverters[serial] = SimInverter(
                serial=serial,
                model=model,
                device_type=INVERTER_DEVICE_TYPE,
                registers={name: register for name, (register, _value) in register_map.items()},
                values=values,
                soc=40 + self.rng.random() * 50,
                refused=frozenset(profile.refused),
                refused_registers=frozenset(profile.refused_registers),
                batteries=[
                    SimBattery(f"{serial[-4:]}BAT{module:04d}", module) for module in range(self.batteries)
                ],
            )
        if self.gridboss:
            serial = f"{4812345600 + self.inverter_count:010d}"
            registers, values = _smart_ports(modes=(1, 2, 0, 0))
            self.inverters[serial] = SimInverter(serial, "Grid Boss", GRIDBOSS_DEVICE_TYPE, registers, values)

    # -- sessions --------------------------------------------------------------------------------------

    def open_session(self) -> str:
        token = secrets.token_hex(16).upper()
        self.sessions[token] = time.monotonic()
        return token

    def session_valid(self, token: str | None) -> bool:
        opened = self.sessions.get(token or "")
        return opened is not None and time.monotonic() - opened < self.session_lifetime

    def expire_sessions(self) -> None:
        """Forget every session, as the cloud does after about two hours."""
        self.sessions.clear()

    # -- devices ---------------------------------------------------------------------------------------

    def set_offline(self, serial: str, lost: bool = True) -> None:
        self.inverters[serial].lost = lost

    def set_batteries(self, serial: str, count: int) -> None:
        """Keep the first `count` modules (a module taken out), or add new ones up to it."""
        modules = self.inverters[serial].batteries
        del modules[count:]
        for index in range(len(modules), count):
            modules.append(SimBattery(f"{serial[-4:]}BAT{index:04d}", index))

    def raise_event(self, serial: str, code: str, text: str, kind: str = "FAULT") -> SimEvent:
        """A new event in the inverter's log, ongoing; record ids grow across the whole account."""
        self.last_record_id += 1
        event = SimEvent(self.last_record_id, code, text, kind, time.time())
        self.inverters[serial].events.append(event)
        return event

    def close_event(self, serial: str, code: str) -> bool:
        """The newest ongoing event with `code` ends now; whether there was one."""
        for event in reversed(self.inverters[serial].events):
            if event.code == code and event.ended is None:
                event.ended = max(time.time(), event.started)
                return True
        return False

    def dongle_serial(self, serial: str) -> str:
        """The serial of the WiFi dongle on an inverter: two letters and the inverter's last eight digits."""
        return f"BA{serial[-8:]}"

    def _record(self, serial: str, name: str, stored: str, transport: str) -> None:
        self.writes.append((serial, name, stored))
        self.write_transports.append(transport)
        self.writes_by_transport[transport] += 1

    def value_of(self, serial: str, name: str) -> str | bool | int | None:
        return self.inverters[serial].values.get(name)

    def read_window(self, serial: str, start: int, count: int) -> dict[str, str | bool | int | None]:
        inverter = self.inverters[serial]
        return {
            name: inverter.values[name]
            for name, register in inverter.registers.items()
            if start <= register < start + count
        }

    def write(self, serial: str, hold_param: str, value_text: str, transport: str = "cloud") -> str | None:
        """Apply a write; returns the refusal text, or `None` when the value is now held."""
        inverter = self.inverters[serial]
        if hold_param not in inverter.registers or not _is_holding(hold_param):
            return REMOTE_SET_ERROR
        stored = _normalise(hold_param, value_text)
        if stored is None or hold_param in inverter.refused:
            return REMOTE_SET_ERROR
        refusal = _firmware_refusal(inverter, hold_param, Decimal(stored))
        if refusal is not None:
            return refusal
        inverter.values[hold_param] = stored
        self._record(serial, hold_param, stored, transport)
        return None

    def set_function(
        self, serial: str, func_param: str, enable: bool, transport: str = "cloud"
    ) -> str | None:
        """Turn a `FUNC_*` function on or off; the refusal text, or `None` when it now holds."""
        inverter = self.inverters[serial]
        if not func_param.startswith("FUNC_") or func_param not in inverter.registers:
            return REMOTE_SET_ERROR
        if func_param in inverter.refused:
            return REMOTE_SET_ERROR
        inverter.values[func_param] = enable and _port_mode_allows(inverter, func_param)
        if func_param == PEAK_SHAVING and not enable and PEAK_SHAVING_POWER in inverter.values:
            # The firmware zeroes the setpoint when peak shaving goes off (eg4_web_monitor).
            inverter.values[PEAK_SHAVING_POWER] = "0"
        self._record(serial, func_param, "true" if enable else "false", transport)
        return None

    def set_quick_charge(self, serial: str, start: bool, transport: str = "cloud") -> str | None:
        """Start or stop a quick charge; the refusal text, or `None`. A start while one runs keeps it; a
        stop while none runs does nothing. Started through the registers, it ends after the firmware's
        default length; through the cloud (no duration sent), when stopped."""
        inverter = self.inverters[serial]
        if not inverter.has_battery_parameters:
            return REMOTE_SET_ERROR
        if start and not inverter.quick_charging:
            self.last_quick_charge_task += 1
            inverter.quick_charge_task = self.last_quick_charge_task
            local = transport != "cloud"
            inverter.quick_charge_ends = time.monotonic() + QUICK_CHARGE_DEFAULT_SECONDS if local else None
        elif not start:
            inverter.quick_charge_task = inverter.quick_charge_ends = None
        self._record(serial, QUICK_CHARGE_TASK, "true" if start else "false", transport)
        return None

    def set_bits(self, serial: str, bit_param: str, value: int) -> str | None:
        """A multi-valued `BIT_*` field. A smart port's mode takes 0-2; set to unused, the port's enable
        flags go off, and nothing turns them on again but their own write (eg4_web_monitor issue 629)."""
        inverter = self.inverters[serial]
        if not bit_param.startswith("BIT_") or bit_param not in inverter.registers or not 0 <= value <= 15:
            return REMOTE_SET_ERROR
        port = bit_param.removeprefix(SMART_PORT_MODE)
        if port != bit_param and value > 2:
            return REMOTE_SET_ERROR
        if port != bit_param and value == 0:
            inverter.values[f"{SMART_LOAD_ENABLE}{port}"] = inverter.values[f"{AC_COUPLE_ENABLE}{port}"] = (
                False
            )
        inverter.values[bit_param] = value
        self._record(serial, bit_param, str(value), "cloud")
        return None

    def write_time(self, serial: str, time_param: str, hour: int, minute: int) -> str | None:
        """One schedule boundary (`HOLD_OFF_GRID_START_TIME_1`), its hour and minute at once."""
        base, _, suffix = time_param.partition("_TIME")
        names = PEAK_SHAVING_TIMES.get(time_param, (f"{base}_HOUR{suffix}", f"{base}_MINUTE{suffix}"))
        inverter = self.inverters[serial]
        if not all(name in inverter.registers for name in names) or not (
            0 <= hour <= 23 and 0 <= minute <= 59
        ):
            return REMOTE_SET_ERROR
        for name, number in zip(names, (hour, minute), strict=True):
            inverter.values[name] = f"{number:02d}"
            self._record(serial, name, f"{number:02d}", "cloud")
        return None


#: The peak-shaving schedule is written by boundary (`HOLD_PEAK_SHAVING_START_TIME_1`) but read under
#: numbered names, four a window: start hour, start minute, end hour, end minute (pylxpweb, eg4_web_monitor;
#: both captured maps hold them at registers 209-212).
PEAK_SHAVING_TIMES: Final = {
    f"HOLD_PEAK_SHAVING_{edge}_TIME_{window}": (
        f"LSP_HOLD_DIS_CHG_POWER_TIME_{33 + 4 * window + 2 * offset}",
        f"LSP_HOLD_DIS_CHG_POWER_TIME_{34 + 4 * window + 2 * offset}",
    )
    for window in (1, 2)
    for offset, edge in enumerate(("START", "END"))
}
SMART_PORT_MODE: Final = "BIT_MIDBOX_SP_MODE_"
SMART_LOAD_ENABLE: Final = "FUNC_SMART_LOAD_EN_"
AC_COUPLE_ENABLE: Final = "FUNC_AC_COUPLE_EN_"


def _smart_ports(modes: tuple[int, ...]) -> tuple[dict[str, int], dict[str, str | bool | int | None]]:
    """A GridBOSS's smart port parameters: each port's mode (register 20, two bits a port) and its enable
    flags (register 229), the flag of each port's mode on, as the cloud's captured answers show them."""
    registers: dict[str, int] = {}
    values: dict[str, str | bool | int | None] = {}
    for port, mode in enumerate(modes, start=1):
        registers[f"{SMART_PORT_MODE}{port}"] = 20
        registers[f"{SMART_LOAD_ENABLE}{port}"] = registers[f"{AC_COUPLE_ENABLE}{port}"] = 229
        values[f"{SMART_PORT_MODE}{port}"] = mode
        values[f"{SMART_LOAD_ENABLE}{port}"] = mode == 1
        values[f"{AC_COUPLE_ENABLE}{port}"] = mode == 2
    return registers, values


def _port_mode_allows(inverter: SimInverter, func_param: str) -> bool:
    """The firmware keeps a smart port's enable flag only while the port is in that flag's mode: set in
    another, it is answered with success and reverted within a second (seen on a GridBOSS, a fork of
    eg4_web_monitor)."""
    for prefix, mode in ((SMART_LOAD_ENABLE, 1), (AC_COUPLE_ENABLE, 2)):
        port = func_param.removeprefix(prefix)
        if port != func_param:
            return inverter.values.get(f"{SMART_PORT_MODE}{port}") == mode
    return True


PEAK_SHAVING: Final = "FUNC_GRID_PEAK_SHAVING"
PEAK_SHAVING_POWER: Final = "_12K_HOLD_GRID_PEAK_SHAVING_POWER"


def _firmware_refusal(inverter: SimInverter, hold_param: str, value: Decimal) -> str | None:
    """The firmware's own refusals between settings. The peak-shaving setpoint is refused while peak
    shaving is off, with DATAFRAME_TIMEOUT as eg4_web_monitor saw; the off-grid cut-off SOC may not be above
    the on-grid one (luxpower-ha-integration: register 125 ranges from 0 to register 105)."""
    values = inverter.values
    if hold_param == PEAK_SHAVING_POWER and values.get(PEAK_SHAVING) is not True:
        return DATAFRAME_TIMEOUT
    if hold_param == "HOLD_SOC_LOW_LIMIT_EPS_DISCHG":
        on_grid = values.get("HOLD_DISCHG_CUT_OFF_SOC_EOD")
        if on_grid is not None and value > Decimal(str(on_grid)):
            return REMOTE_SET_ERROR
    if hold_param == "HOLD_DISCHG_CUT_OFF_SOC_EOD":
        off_grid = values.get("HOLD_SOC_LOW_LIMIT_EPS_DISCHG")
        if off_grid is not None and value < Decimal(str(off_grid)):
            return REMOTE_SET_ERROR
    return None


def _is_holding(name: str) -> bool:
    return "HOLD_" in name and not name.startswith("HOLD_MODEL") and name != "HOLD_SERIAL_NUM"


def _normalise(hold_param: str, value_text: str) -> str | None:
    """The text the cloud would store for `value_text`, or `None` when it would refuse it."""
    try:
        value = Decimal(value_text.strip())
    except InvalidOperation:
        return None
    if not value.is_finite():
        return None
    for part, highest in CLOCK_PARTS.items():
        if part in hold_param:
            whole = value == value.to_integral_value() and 0 <= value <= highest
            return f"{int(value):02d}" if whole else None
    limits = DEVICE_LIMITS.get(hold_param)
    if limits is None:
        return format(value.normalize(), "f")
    low, high, step = limits
    if not low <= value <= high or value % step != 0:
        return None
    return format(value.quantize(step), "f")
