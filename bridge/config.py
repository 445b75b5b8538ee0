"""The configuration file: YAML, validated once into one pydantic model before any I/O.

Secrets may come from the environment instead of the file; they are `SecretStr` everywhere after loading, so
a printed or logged settings object shows `**********`.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

import yaml
from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator

from bridge.errors import ConfigError

#: Environment variables that fill (and take precedence over) the file's secrets.
ENVIRONMENT: Final = {
    ("cloud", "username"): "EG4_CLOUD_USERNAME",
    ("cloud", "password"): "EG4_CLOUD_PASSWORD",
    ("mqtt", "username"): "EG4_MQTT_USERNAME",
    ("mqtt", "password"): "EG4_MQTT_PASSWORD",
    ("health", "enabled"): "EG4_HEALTH_ENABLED",
}
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
            raise ValueError("must be an http:// or https:// URL, such as https://monitor.eg4electronics.com")
        return value.rstrip("/")

    @field_validator("password")
    @classmethod
    def _not_empty(cls, value: SecretStr) -> SecretStr:
        if not value.get_secret_value():
            raise ValueError("must not be empty")
        return value


class MqttSettings(_Section):
    host: str = "127.0.0.1"
    port: int = Field(default=1883, ge=1, le=65535)
    username: str | None = None
    password: SecretStr | None = None
    client_id: str | None = None
    keepalive: int = Field(default=60, ge=5, le=3600)
    base_topic: str = "eg4"
    discovery_prefix: str = "homeassistant"

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


class HealthSettings(_Section):
    """An HTTP endpoint with `/healthz` and `/metrics` (Prometheus), off unless enabled."""

    enabled: bool = False
    host: str = "127.0.0.1"
    port: int = Field(default=9108, ge=1, le=65535)
    #: `/healthz` fails when no inverter was read successfully for this long; null: three runtime periods
    #: plus a minute for retries.
    stale_after_seconds: float | None = Field(default=None, gt=0)


class Settings(_Section):
    cloud: CloudSettings
    mqtt: MqttSettings = MqttSettings()
    polling: PollingSettings = PollingSettings()
    health: HealthSettings = HealthSettings()
    log_level: str = Field(default="INFO", pattern="^(DEBUG|INFO|WARNING|ERROR)$")


def load_settings(path: Path, environ: Mapping[str, str] | None = None) -> Settings:
    """Read, merge the environment's secrets into, and validate one config file.

    Raises `ConfigError` with one line per problem, each naming the key.
    """
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError([f"{path}: cannot be read ({exc.strerror})"]) from exc
    try:
        document = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError([f"{path}: not valid YAML ({_yaml_problem(exc)})"]) from exc
    if document is None:
        document = {}
    if not isinstance(document, dict):
        raise ConfigError([f"{path}: the top level must be a mapping of sections (cloud, mqtt, polling)"])
    return settings_from_mapping(document, os.environ if environ is None else environ)


def settings_from_mapping(document: Mapping[str, Any], environ: Mapping[str, str]) -> Settings:
    merged = _with_environment(document, environ)
    try:
        return Settings.model_validate(merged)
    except ValidationError as exc:
        raise ConfigError([_describe(error) for error in exc.errors()]) from None


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


def _describe(error: Mapping[str, Any]) -> str:
    key = ".".join(str(part) for part in error["loc"]) or "(top level)"
    kind = error["type"]
    if kind == "missing":
        variable = _environment_variable(error["loc"])
        if variable is None:
            return f"{key}: required"
        return f"{key}: required (in the file, or in the environment variable {variable})"
    if kind == "extra_forbidden":
        return f"{key}: unknown key"
    message = str(error["msg"]).removeprefix("Value error, ")
    return f"{key}: {message}"


def _environment_variable(location: tuple[Any, ...]) -> str | None:
    return ENVIRONMENT.get((str(location[0]), str(location[-1]))) if len(location) == 2 else None


def _yaml_problem(exc: yaml.YAMLError) -> str:
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None) or "syntax error"
    return f"{problem} at line {mark.line + 1}" if mark is not None else str(problem)
