"""The configuration file: YAML, validated once into one pydantic model before any I/O.

Secrets may come from the environment instead of the file; they are `SecretStr` everywhere after loading, so
a printed or logged settings object shows `**********`.
"""

from __future__ import annotations

import difflib
import os
import re
import stat
from collections.abc import Mapping
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, Final, Literal
from urllib.parse import urlsplit

import yaml
from pydantic import (
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    SecretStr,
    ValidationError,
    ValidationInfo,
    field_validator,
    model_validator,
)

from bridge.core.catalogue import SETTINGS, NumberSetting, Risk, setting_by_key
from bridge.core.errors import ConfigError

#: Environment variables that fill (and take precedence over) the file's secrets.
ENVIRONMENT: Final = {
    ("cloud", "username"): "EG4_CLOUD_USERNAME",
    ("cloud", "password"): "EG4_CLOUD_PASSWORD",
    ("mqtt", "username"): "EG4_MQTT_USERNAME",
    ("mqtt", "password"): "EG4_MQTT_PASSWORD",
    ("health", "enabled"): "EG4_HEALTH_ENABLED",
}
LOOPBACK_HOSTS: Final = frozenset({"localhost", "127.0.0.1", "::1"})
#: The cloud asks clients to poll runtime no faster than this.
CLOUD_MINIMUM_POLL_SECONDS: Final = 30.0
#: The credentials config.example.yaml ships with.
PLACEHOLDERS: Final = frozenset({"you@example.com", "change-me"})
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
    #: The cloud asks for no faster than about 30 s; shorter periods are for a local simulator.
    runtime_seconds: float = Field(default=60, ge=1, le=3600)
    parameters_seconds: float = Field(default=300, ge=1, le=86400)
    #: After a write, every inverter's parameters are read again; a burst of writes shares one such read
    #: per this many seconds.
    write_refresh_seconds: float = Field(default=10, ge=0, le=3600)
    #: Refreshes asked for on `<base>/bridge/request/refresh` start at most this often; requests meanwhile
    #: join the next one (anyone on the broker could otherwise make the bridge hammer the cloud).
    refresh_request_gap_seconds: float = Field(default=5, ge=0, le=3600)


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
        protection = {setting.key for setting in SETTINGS if setting.risk is Risk.PROTECTION}
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
            for setting in SETTINGS
            if setting.key in self.expose or (everything and setting.risk is Risk.PROTECTION)
        )


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


def load_settings(path: Path, environ: Mapping[str, str] | None = None) -> Settings:
    """Read, merge the environment's secrets into, and validate one config file.

    Raises `ConfigError` with one line per problem, each naming the key.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError([f"{path}: cannot be read ({exc.strerror})"]) from exc
    try:
        document = yaml.load(text, Loader=_UniqueKeyLoader)  # a SafeLoader, keys checked
    except yaml.YAMLError as exc:
        raise ConfigError([f"{path}: not valid YAML ({_yaml_problem(exc)})"]) from exc
    if document is None:
        document = {}
    if not isinstance(document, dict):
        raise ConfigError([f"{path}: the top level must be a mapping of sections (cloud, mqtt, polling)"])
    misread = _serials_yaml_misread(text)
    if misread:
        raise ConfigError(misread)
    return settings_from_mapping(document, os.environ if environ is None else environ)


class _UniqueKeyLoader(yaml.SafeLoader):
    """The safe loader, refusing a key given twice in one mapping: YAML would keep the last one silently,
    and a limit written twice is one the owner may believe holds."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[object] = set()
        for key_node, _value in node.value:
            key = self.construct_object(key_node, deep=deep)
            if isinstance(key, str | int | float | bool) and key in seen:
                raise yaml.constructor.ConstructorError(
                    None, None, f"the key {key!r} is given twice in one section", key_node.start_mark
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def _serials_yaml_misread(text: str) -> list[str]:
    """Serial keys under `inverters` that YAML turned into another number (`0123456701` is octal)."""
    root = yaml.compose(text, Loader=yaml.SafeLoader)
    if not isinstance(root, yaml.MappingNode):
        return []
    section = next((value for key, value in root.value if getattr(key, "value", None) == "inverters"), None)
    if not isinstance(section, yaml.MappingNode):
        return []
    problems = []
    for key, _value in section.value:
        if not isinstance(key, yaml.ScalarNode) or key.style is not None:
            continue  # quoted: read as written
        read_as = yaml.safe_load(key.value)
        if not isinstance(read_as, str) and str(read_as) != key.value:
            problems.append(
                f"inverters.{key.value}: YAML reads this unquoted serial as the number {read_as}; "
                f"quote it: '{key.value}'"
            )
    return problems


def file_warnings(path: Path) -> list[str]:
    """Problems that do not stop the bridge: a password in a file that other users may read."""
    try:
        mode = path.stat().st_mode
        document = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError):
        return []
    sections = document if isinstance(document, dict) else {}
    holds_password = any(
        isinstance(sections.get(section), dict) and sections[section].get("password")
        for section in ("cloud", "mqtt")
    )
    if holds_password and mode & (stat.S_IRGRP | stat.S_IROTH):
        return [
            f"{path} holds a password and other users may read it: move the password to "
            "EG4_CLOUD_PASSWORD / EG4_MQTT_PASSWORD (with systemd, in /etc/eg4-bridge/secrets.env, mode 600: "
            "the unit's DynamicUser cannot read a config only root may), or chmod 600 the file when the "
            "bridge runs as its owner"
        ]
    return []


def settings_from_mapping(document: Mapping[str, Any], environ: Mapping[str, str]) -> Settings:
    merged = _with_environment(document, environ)
    try:
        return Settings.model_validate(merged)
    except ValidationError as exc:
        used = {variable for variable in ENVIRONMENT.values() if environ.get(variable)}
        raise ConfigError([_describe(error, used) for error in exc.errors()]) from None


def _with_environment(document: Mapping[str, Any], environ: Mapping[str, str]) -> dict[str, Any]:
    merged = dict(document)
    for (section, key), variable in ENVIRONMENT.items():
        value = environ.get(variable)
        if not value:
            continue
        part = merged.get(section)
        part = dict(part) if isinstance(part, dict) else ({} if part is None else part)
        if isinstance(part, dict):
            part[key] = value
        merged[section] = part
    return merged


def _describe(error: Mapping[str, Any], environment_used: set[str]) -> str:
    location = tuple(error["loc"])
    key = ".".join(str(part) for part in location) or "(top level)"
    kind = error["type"]
    variable = _environment_variable(location)
    if kind == "missing":
        if variable is None:
            return f"{key}: required"
        return f"{key}: required (in the file, or in the environment variable {variable})"
    if kind == "extra_forbidden":
        nearest = _nearest_key(location)
        return f"{key}: unknown key" + (f"; did you mean {nearest}?" if nearest else "")
    message = _in_words(kind, error)
    if not location:
        return message  # a rule over several sections: the message names them
    if variable in environment_used:
        # The value came from the environment, not the file: name where to correct it.
        return f"{key} (from the environment variable {variable}): {message}"
    return f"{key}: {message}"


def _in_words(kind: str, error: Mapping[str, Any]) -> str:
    """pydantic's message for the common kinds of mistake, said as the rest of the bridge says things."""
    context = error.get("ctx") or {}
    if kind == "less_than_equal":
        return f"must be at most {context.get('le')}"
    if kind == "less_than":
        return f"must be less than {context.get('lt')}"
    if kind in ("greater_than_equal", "greater_than"):
        bound = context.get("ge", context.get("gt"))
        return f"must be at least {bound}" if kind == "greater_than_equal" else f"must be more than {bound}"
    if kind == "literal_error":
        return f"must be one of {context.get('expected', '').replace(' or ', ', ')}"
    if kind == "string_too_short":
        return "must not be empty"
    if kind in ("int_parsing", "int_type", "int_from_float"):
        return "must be a whole number"
    if kind in ("float_parsing", "float_type", "decimal_parsing", "decimal_type"):
        return "must be a number"
    if kind in ("bool_parsing", "bool_type"):
        return "must be true or false"
    if kind in ("dict_type", "model_type"):
        return "must be a section of keys and values"
    return str(error["msg"]).removeprefix("Value error, ")


def _nearest_key(location: tuple[Any, ...]) -> str | None:
    """The known key an unknown one most resembles (`mqtt.hots` -> `mqtt.host`), if any is close."""
    model: type[BaseModel] = Settings
    for part in location[:-1]:
        annotation = model.model_fields.get(str(part))
        inner = getattr(annotation, "annotation", None)
        if not (isinstance(inner, type) and issubclass(inner, BaseModel)):
            return None
        model = inner
    close = difflib.get_close_matches(str(location[-1]), list(model.model_fields), n=1, cutoff=0.6)
    return ".".join([*(str(part) for part in location[:-1]), close[0]]) if close else None


def settings_warnings(settings: Settings) -> list[str]:
    """Settings that work but are likely mistakes; `check-config` prints them and `run` logs them."""
    warnings: list[str] = []
    cloud = settings.cloud
    if cloud is None:
        return warnings
    simulator = urlsplit(cloud.base_url).hostname in LOOPBACK_HOSTS
    if settings.polling.runtime_seconds < CLOUD_MINIMUM_POLL_SECONDS and not simulator:
        warnings.append(
            f"polling.runtime_seconds is {settings.polling.runtime_seconds:g}: faster than the cloud allows "
            f"(it asks for {CLOUD_MINIMUM_POLL_SECONDS:g} s or more); use such values only with the simulator"
        )
    if cloud.username in PLACEHOLDERS or cloud.password.get_secret_value() in PLACEHOLDERS:
        warnings.append(
            "cloud.username or cloud.password is still the example's placeholder: put in your own account"
        )
    return warnings


def _environment_variable(location: tuple[Any, ...]) -> str | None:
    return ENVIRONMENT.get((str(location[0]), str(location[-1]))) if len(location) == 2 else None


def _yaml_problem(exc: yaml.YAMLError) -> str:
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or "syntax error"
    return f"{problem} at line {mark.line + 1}" if mark is not None else str(problem)
