"""The configuration's schema: one pydantic model, validated once before any I/O. Reading the file, the
environment's secrets and the wording of mistakes are `bridge.service.config_file`'s.

Secrets are `SecretStr` everywhere after loading, so a printed or logged settings object shows `**********`.
"""

from __future__ import annotations

import re
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, Final, Literal
from urllib.parse import urlsplit

from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SecretStr,
    ValidationInfo,
    field_validator,
    model_validator,
)

from bridge.core.catalogue import GRIDBOSS_SETTINGS, SETTINGS, setting_by_key
from bridge.core.kinds import NumberSetting, Risk

LOOPBACK_HOSTS: Final = frozenset({"localhost", "127.0.0.1", "::1"})
#: The cloud asks clients to poll runtime no faster than this.
CLOUD_MINIMUM_POLL_SECONDS: Final = 30.0
#: An inverter's serial as the cloud gives it, or `default` for every inverter not named.
SERIAL_KEY: Final = re.compile(r"[A-Za-z0-9]{10}|default")


def _whole_amperes(value: object) -> object:
    # `true` is not a number of amperes, though Python would read it as 1; neither is 80.5 or "80A".
    if isinstance(value, bool) or not isinstance(value, int):
        raise ValueError("must be a whole number of amperes, such as 100")
    return value


#: Amperes the bridge will write, as a limit.
Amperes = Annotated[int, BeforeValidator(_whole_amperes)]
TOPIC_LEVEL: Final = re.compile(r"^[^#+/\s][^#+\s]*[^#+/\s]$|^[^#+/\s]$")


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class CloudSettings(_Section):
    """The vendor's cloud account: where it is, the login, and how requests to it are made."""

    base_url: str = "https://monitor.eg4electronics.com"
    username: str = Field(min_length=1)
    password: SecretStr
    verify_tls: bool = True
    request_timeout: float = Field(default=30.0, gt=0, le=300)
    concurrency: int = Field(default=3, ge=1, le=16)

    @field_validator("base_url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not re.match(r"^https?://[^/\s]+(/\S*)?$", value):
            raise ValueError("must be an https:// URL, such as https://monitor.eg4electronics.com")
        if value.startswith("http://") and urlsplit(value).hostname not in LOOPBACK_HOSTS:
            # The login sends the password: over http:// anyone on the way reads it.
            raise ValueError(
                "must be https:// (http:// would send the cloud password in clear text); http:// is allowed "
                "only for a simulator on this machine (localhost)"
            )
        return value.rstrip("/")

    @field_validator("password")
    @classmethod
    def _not_empty(cls, value: SecretStr) -> SecretStr:
        if not value.get_secret_value():
            raise ValueError("must not be empty")
        return value

    @field_validator("verify_tls")
    @classmethod
    def _unverified_only_locally(cls, value: bool, info: ValidationInfo) -> bool:
        # Turning certificate checks off exposes the password to anyone on the path: only a simulator on
        # this machine may be spoken to that way.
        base_url = info.data.get("base_url", "")
        if not value and urlsplit(base_url).hostname not in LOOPBACK_HOSTS:
            raise ValueError("false is allowed only for a simulator on this machine (localhost)")
        return value


class TlsSettings(_Section):
    """TLS to the broker. The broker's certificate and host name are always verified."""

    enabled: bool = False
    #: The CA that signed the broker's certificate; null: the system's trusted CAs.
    ca_file: Path | None = None
    #: A client certificate and its key, for brokers that require one.
    cert_file: Path | None = None
    key_file: Path | None = None

    @model_validator(mode="after")
    def _files_exist_and_pair(self) -> TlsSettings:
        for name in ("ca_file", "cert_file", "key_file"):
            path = getattr(self, name)
            if path is not None and not path.is_file():
                raise ValueError(f"{name} {path} is not a readable file")
        if (self.cert_file is None) != (self.key_file is None):
            raise ValueError("cert_file and key_file go together")
        return self


class MqttSettings(_Section):
    """The MQTT broker: where it is, the login, and the topics the bridge publishes under."""

    host: str = "127.0.0.1"
    port: int = Field(default=1883, ge=1, le=65535)
    username: str | None = None
    password: SecretStr | None = None
    client_id: str | None = None
    keepalive: int = Field(default=60, ge=5, le=3600)
    base_topic: str = "eg4"
    discovery_prefix: str = "homeassistant"
    #: Starts Home Assistant's device and entity ids (`eg4_<serial>`); change it only for a second,
    #: separate installation on the same Home Assistant.
    device_prefix: str = Field(default="eg4", pattern=r"^[a-z][a-z0-9_]{0,31}$")
    tls: TlsSettings = TlsSettings()
    #: Messages kept while the broker is away; beyond this the oldest are dropped (and logged).
    outbox_limit: int = Field(default=20_000, ge=100, le=1_000_000)
    #: MQTT 5, 3.1.1, or `auto`: 5, then 3.1.1 when the broker does not take 5 (NATS, RabbitMQ 3.x).
    protocol: Literal["auto", "5", "3.1.1"] = "auto"

    @field_validator("protocol", mode="before")
    @classmethod
    def _protocol_as_text(cls, value: object) -> object:
        # YAML reads `5` as a number and `3.1.1` as text.
        return str(value) if isinstance(value, int) and not isinstance(value, bool) else value

    @field_validator("base_topic", "discovery_prefix")
    @classmethod
    def _topic_prefix(cls, value: str) -> str:
        if not TOPIC_LEVEL.match(value):
            raise ValueError("must be a topic without wildcards (+, #), spaces, or a leading or trailing /")
        return value


class PollingSettings(_Section):
    """How often inverters are read: runtime values, settings, and the reads that follow writes."""

    #: The cloud asks for no faster than about 30 s; shorter periods are for a local simulator.
    runtime_seconds: float = Field(default=60, ge=1, le=3600)
    parameters_seconds: float = Field(default=300, ge=1, le=86400)
    #: After a write, every inverter's parameters are read again; a burst of writes shares one such read
    #: per this many seconds.
    write_refresh_seconds: float = Field(default=10, ge=0, le=3600)
    #: Refreshes asked for on `<base>/bridge/request/refresh` start at most this often; requests meanwhile
    #: join the next one (anyone on the broker could otherwise make the bridge hammer the cloud).
    refresh_request_gap_seconds: float = Field(default=5, ge=0, le=3600)
    #: The cloud's event log (the Last Event sensor) is read this often: events are rare, and every
    #: inverter costs one request (eg4_web_monitor reads it every 300 s too).
    events_seconds: float = Field(default=300, ge=1, le=86400)


class HealthSettings(_Section):
    """An HTTP endpoint with `/healthz` and `/metrics` (Prometheus), off unless enabled."""

    enabled: bool = False
    host: str = "127.0.0.1"
    port: int = Field(default=9108, ge=1, le=65535)
    #: `/healthz` fails when no inverter was read successfully for this long; null: three runtime periods
    #: plus a minute for retries.
    stale_after_seconds: float | None = Field(default=None, gt=0)


class ThermalGuardSettings(_Section):
    """When the battery is hot, refuse writes that raise a current above a derated value."""

    enabled: bool = False
    max_temperature: float = Field(default=45.0, ge=0, le=80)
    derated_current: int = Field(default=50, ge=0, le=250)


class ControlSettings(_Section):
    """What the bridge may write, and how: read-only, spacing, current limits, the thermal guard."""

    read_only: bool = False
    #: Writes to one inverter are spaced at least this far apart; the latest command waiting wins.
    min_write_interval_seconds: float = Field(default=3.0, ge=0, le=600)
    thermal_guard: ThermalGuardSettings = ThermalGuardSettings()
    #: Limits for every inverter that has none of its own (under `inverters`).
    max_charge_current: Amperes | None = Field(default=None, ge=0, le=250)
    max_discharge_current: Amperes | None = Field(default=None, ge=0, le=250)
    #: When a setting is found held above the owner's limit (set by hand or another app), write it down
    #: to the limit. Off: the bridge only shows it (the problem sensor, the status page).
    bring_down_to_limit: bool = False
    #: After a write whose fate is unknown (no answer in time), the setting is read again this much later.
    recheck_after_unknown_seconds: float = Field(default=15.0, gt=0, le=600)
    #: Protection settings (voltages, off-grid, backup output) the bridge may write and announce, by key,
    #: or `protection` for all of them. None by default.
    expose: tuple[str, ...] = ()

    @field_validator("expose")
    @classmethod
    def _protection_settings(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        protection = {setting.key for setting in EVERY_SETTING if setting.risk is Risk.PROTECTION}
        contested = {setting.key for setting in SETTINGS if setting.provenance.contested}
        unknown = [key for key in value if key not in protection | contested and key != "protection"]
        if unknown:
            raise ValueError(
                f"{', '.join(unknown)}: not a protection setting nor one the sources dispute for a model "
                f"family; these are: {', '.join(sorted(protection | contested))}, or protection for all "
                "protection settings (docs/SETTINGS.md says why each is held back)"
            )
        return value

    @property
    def exposed(self) -> frozenset[str]:
        """The keys opted in to: protection settings, and settings whose meaning the sources dispute for
        some model family (offered there only when named). `protection` names every protection setting."""
        everything = "protection" in self.expose
        return frozenset(
            setting.key
            for setting in EVERY_SETTING
            if setting.key in self.expose or (everything and setting.risk is Risk.PROTECTION)
        )


#: The inverters' settings and the GridBOSS's.
EVERY_SETTING: Final = (*SETTINGS, *GRIDBOSS_SETTINGS)

#: How the bridge reaches an inverter: the vendor's cloud, the inverter's WiFi dongle on the local network,
#: or the dongle first and the cloud when the dongle does not answer.
RoutingMode = Literal["cloud", "local", "hybrid"]


class DongleSettings(_Section):
    """The inverter's WiFi dongle on the local network (docs/LOCAL.md says how to find these)."""

    host: str = Field(min_length=1)
    port: int = Field(default=8000, ge=1, le=65535)
    #: The dongle's own serial (10 letters and digits, on its label), not the inverter's.
    serial: str = Field(pattern=r"^[A-Za-z0-9]{10}$")
    #: How long a request waits for the dongle's answer; with `hybrid`, then the cloud is asked.
    timeout_seconds: float = Field(default=3.0, gt=0, le=60)
    #: Echo the dongle's heartbeats, as the cloud does: some inverters stop answering a dongle with no cloud.
    answer_heartbeats: bool = False
    #: Registers asked for in one read: 40 suits every firmware; newer firmware takes up to 125. A larger
    #: read the dongle refuses or leaves unanswered falls back to 40.
    max_block: int = Field(default=40, ge=40, le=125)
    #: `hybrid`: after the dongle failed, requests go straight to the cloud this long before the dongle is
    #: tried again, so that every poll does not first wait for a dead dongle.
    rest_seconds: float = Field(default=60.0, ge=0, le=3600)


class ModbusSettings(_Section):
    """An adapter on the inverter's RS485 port (docs/LOCAL.md): RS485-to-Ethernet in Modbus TCP (`host`),
    or USB-to-RS485 on this machine in Modbus RTU (`device`)."""

    host: str | None = Field(default=None, min_length=1)
    port: int = Field(default=502, ge=1, le=65535)
    #: RTU: the serial device of a USB-to-RS485 adapter (`/dev/ttyUSB0`), and its line settings.
    device: str | None = Field(default=None, min_length=1)
    baudrate: int = Field(default=19200, ge=1200, le=115200)
    parity: Literal["N", "E", "O"] = "N"
    stopbits: Literal[1, 2] = 1
    #: The inverter's Modbus address on its RS485 port (1 unless changed on the inverter).
    unit: int = Field(default=1, ge=1, le=247)
    timeout_seconds: float = Field(default=3.0, gt=0, le=60)
    #: `hybrid`: how long requests go straight to the cloud after the adapter failed.
    rest_seconds: float = Field(default=60.0, ge=0, le=3600)

    @model_validator(mode="after")
    def _one_way(self) -> ModbusSettings:
        if (self.host is None) == (self.device is None):
            raise ValueError(
                "an adapter is reached by host (Modbus TCP, an RS485-to-Ethernet adapter) or by device "
                "(Modbus RTU, a USB-to-RS485 adapter on this machine): give one of the two"
            )
        return self

    @property
    def kind(self) -> str:
        """`modbus_tcp` or `modbus_rtu`: what results say."""
        return "modbus_tcp" if self.host is not None else "modbus_rtu"


class SettingLimit(_Section):
    """The most the bridge will write to one setting, in the setting's own unit."""

    max: Decimal = Field(allow_inf_nan=False)

    @field_validator("max", mode="before")
    @classmethod
    def _a_number(cls, value: object) -> object:
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            raise ValueError("must be a number in the setting's unit, such as 5.5")
        return value


class InverterSettings(_Section):
    """Limits for one inverter (or, under the key `default`, for all): what the bridge will write."""

    max_charge_current: Amperes | None = Field(default=None, ge=0, le=250)
    max_discharge_current: Amperes | None = Field(default=None, ge=0, le=250)
    read_only: bool | None = None
    #: Any other setting's limit, by its key: `limits: {ac_charge_power: {max: 5}}`.
    limits: dict[str, SettingLimit] = Field(default_factory=dict)
    #: This inverter's way in; none: the top-level `transport`.
    transport: RoutingMode | None = None
    dongle: DongleSettings | None = None
    #: Instead of the dongle: an RS485 adapter spoken to in Modbus TCP.
    modbus: ModbusSettings | None = None
    #: This serial is a GridBOSS (MID box), reached through its own dongle or adapter: without the cloud,
    #: nothing else says so (the cloud's device list does).
    gridboss: bool = False

    @property
    def local_transport(self) -> DongleSettings | ModbusSettings | None:
        return self.dongle if self.dongle is not None else self.modbus

    @field_validator("limits")
    @classmethod
    def _known_settings(cls, value: dict[str, SettingLimit]) -> dict[str, SettingLimit]:
        for key, limit in value.items():
            setting = setting_by_key(key)
            if not isinstance(setting, NumberSetting):
                raise ValueError(f"{key} is not a number setting (the README's topic table lists each key)")
            if not setting.minimum <= limit.max <= setting.maximum:
                raise ValueError(
                    f"{key}.max: {limit.max} {setting.unit} lies outside the setting's own range, "
                    f"{setting.minimum} to {setting.maximum} {setting.unit}"
                )
        return value

    def maximum_for(self, setting: object) -> Decimal | None:
        """The most the bridge will write to `setting`, or `None` for the setting's own range."""
        legacy = getattr(setting, "limit_setting", None)
        if legacy is not None and getattr(self, legacy) is not None:
            return Decimal(getattr(self, legacy))
        limit = self.limits.get(str(getattr(setting, "key", "")))
        return None if limit is None else limit.max


class Settings(_Section):
    """The whole configuration file, validated: every section, and each inverter's own settings."""

    #: The vendor's cloud account; may be left out only when every inverter is reached through its dongle.
    cloud: CloudSettings | None = None
    #: How inverters are reached unless `inverters.<serial>.transport` says otherwise.
    transport: RoutingMode = "cloud"
    mqtt: MqttSettings = MqttSettings()
    polling: PollingSettings = PollingSettings()
    health: HealthSettings = HealthSettings()
    log_level: str = Field(default="INFO", pattern="^(DEBUG|INFO|WARNING|ERROR)$")
    control: ControlSettings = ControlSettings()
    #: Per-inverter limits by serial, and `default` for every inverter not named.
    inverters: dict[str, InverterSettings] = Field(default_factory=dict)

    @field_validator("log_level", mode="before")
    @classmethod
    def _any_case(cls, value: object) -> object:
        return value.upper() if isinstance(value, str) else value

    @field_validator("inverters", mode="before")
    @classmethod
    def _serials_as_text(cls, value: object) -> object:
        # YAML reads an unquoted serial such as 4512345600 as a number.
        return {str(key): item for key, item in value.items()} if isinstance(value, dict) else value

    @field_validator("inverters")
    @classmethod
    def _serials_well_formed(cls, value: dict[str, InverterSettings]) -> dict[str, InverterSettings]:
        bad = [serial for serial in value if not SERIAL_KEY.fullmatch(serial)]
        if bad:
            raise ValueError(
                f"{', '.join(repr(serial) for serial in bad)}: a serial is 10 letters and digits "
                "(as on the inverter's label and in the cloud), or `default`"
            )
        return value

    @model_validator(mode="after")
    def _ways_in(self) -> Settings:
        for serial, own in self.inverters.items():
            if serial == "default":
                if own.dongle is not None or own.modbus is not None:
                    raise ValueError(
                        "inverters.default.dongle: a dongle or adapter belongs to one inverter, by serial"
                    )
                if own.gridboss:
                    raise ValueError("inverters.default.gridboss: a GridBOSS is one device, named by serial")
                continue
            if own.dongle is not None and own.modbus is not None:
                raise ValueError(
                    f"inverters.{serial}: a dongle or a Modbus adapter, not both (one local way per inverter)"
                )
            if self.configured_mode(serial) != "cloud" and own.local_transport is None:
                raise ValueError(
                    f"inverters.{serial}.dongle: transport {self.configured_mode(serial)} needs the dongle's "
                    "host and serial (dongle: {host: 192.168.1.50, serial: BA12345678}), or a Modbus "
                    "adapter (modbus: {host: 192.168.1.60})"
                )
        named = [serial for serial in self.inverters if serial != "default"]
        if self.transport == "hybrid" and not any(own.local_transport for own in self.inverters.values()):
            raise ValueError(
                "transport: hybrid needs at least one inverter with its dongle under inverters (without one, "
                "the cloud is the only way in: say transport: cloud)"
            )
        if self.cloud is None and not (
            named and all(self.configured_mode(serial) == "local" for serial in named)
        ):
            raise ValueError(
                "cloud: required, unless every inverter is named under inverters with transport: local "
                "and its dongle"
            )
        return self

    def configured_mode(self, serial: str) -> RoutingMode:
        own = self.inverters.get(serial)
        default = self.inverters.get("default")
        chosen: RoutingMode = _first_set(own and own.transport, default and default.transport, self.transport)
        return chosen

    def mode_of(self, serial: str) -> RoutingMode:
        """How the bridge reaches this inverter: its transport when it has a dongle, else the cloud (an
        inverter found on the account with no dongle named has no other way in)."""
        own = self.inverters.get(serial) if serial != "default" else None
        return "cloud" if own is None or own.local_transport is None else self.configured_mode(serial)

    @property
    def dongles(self) -> dict[str, DongleSettings]:
        """The inverters reached through a dongle (`local` or `hybrid`), by serial."""
        return {
            serial: own.dongle
            for serial, own in self.inverters.items()
            if own.dongle is not None and self.mode_of(serial) != "cloud"
        }

    @property
    def local_transports(self) -> dict[str, DongleSettings | ModbusSettings]:
        """The inverters reached without the cloud (`local`, `hybrid`), by serial: a dongle or an adapter."""
        return {
            serial: way
            for serial, own in self.inverters.items()
            if (way := own.local_transport) is not None and self.mode_of(serial) != "cloud"
        }

    def limits_for(self, serial: str) -> InverterSettings:
        """The inverter's own limits, each unset one taken from `default`."""
        default = self.inverters.get("default", InverterSettings())
        own = self.inverters.get(serial, InverterSettings())
        control = self.control
        return InverterSettings(
            limits=default.limits | own.limits,
            max_charge_current=_first_set(
                own.max_charge_current, default.max_charge_current, control.max_charge_current
            ),
            max_discharge_current=_first_set(
                own.max_discharge_current, default.max_discharge_current, control.max_discharge_current
            ),
            read_only=_first_set(own.read_only, default.read_only, self.control.read_only),
        )


def _first_set(*values: Any) -> Any:
    return next((value for value in values if value is not None), None)
