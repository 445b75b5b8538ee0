"""The configuration file: YAML read, the environment's secrets merged in, validated into `Settings`, and
every mistake said in the bridge's words (naming the key), not pydantic's.
"""

from __future__ import annotations

import difflib
import os
import stat
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final
from urllib.parse import urlsplit

import yaml
from pydantic import BaseModel, ValidationError

from bridge.core.config import CLOUD_MINIMUM_POLL_SECONDS, LOOPBACK_HOSTS, Settings
from bridge.core.errors import ConfigError

#: Environment variables that fill (and take precedence over) the file's secrets.
ENVIRONMENT: Final = {
    ("cloud", "username"): "EG4_CLOUD_USERNAME",
    ("cloud", "password"): "EG4_CLOUD_PASSWORD",
    ("mqtt", "username"): "EG4_MQTT_USERNAME",
    ("mqtt", "password"): "EG4_MQTT_PASSWORD",
    ("health", "enabled"): "EG4_HEALTH_ENABLED",
}
#: The credentials config.example.yaml ships with.
PLACEHOLDERS: Final = frozenset({"you@example.com", "change-me"})


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
    """A config document, with what the environment variables give, as `Settings`; or `ConfigError`
    with every mistake."""
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


#: pydantic's kinds of mistake whose message needs nothing from the error, in the bridge's words.
_FIXED_WORDS: Final = {
    "string_too_short": "must not be empty",
    **dict.fromkeys(("int_parsing", "int_type", "int_from_float"), "must be a whole number"),
    **dict.fromkeys(("float_parsing", "float_type", "decimal_parsing", "decimal_type"), "must be a number"),
    **dict.fromkeys(("bool_parsing", "bool_type"), "must be true or false"),
    **dict.fromkeys(("dict_type", "model_type"), "must be a section of keys and values"),
}


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
    return _FIXED_WORDS.get(kind) or str(error["msg"]).removeprefix("Value error, ")


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
