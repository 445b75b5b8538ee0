"""The Home Assistant add-on's start: the options the user entered (`/data/options.json`) and, when they
name no broker, the Supervisor's MQTT service (the Mosquitto add-on) become the bridge's config file; then
the bridge runs on it. So a user with the Mosquitto add-on enters nothing about MQTT.
"""

from __future__ import annotations

import os
import sys
import urllib.error
import urllib.request
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Final

import yaml

from bridge.core import safejson
from bridge.core.errors import ConfigError
from bridge.service.config_file import settings_from_mapping

OPTIONS: Final = Path("/data/options.json")
CONFIG: Final = Path("/data/config.yaml")
SUPERVISOR_MQTT: Final = "http://supervisor/services/mqtt"
#: The status page, which the add-on shows through Home Assistant's ingress.
INGRESS_PORT: Final = 9108
#: The Supervisor's answers and the options file are small; anything larger is refused.
MAX_ANSWER_BYTES: Final = 256 * 1024


class AddonError(Exception):
    """The add-on cannot start: the message says what the user must change."""


def mqtt_from_supervisor(url: str, token: str | None) -> dict[str, Any]:
    """The broker the Supervisor offers (`services: mqtt:need`), or `AddonError` saying why not."""
    if not token:
        raise AddonError("no broker in the options, and no SUPERVISOR_TOKEN to ask the Supervisor for one")
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"})
    try:
        with urllib.request.urlopen(request, timeout=10) as answer:
            body = safejson.loads(answer.read(MAX_ANSWER_BYTES + 1), max_bytes=MAX_ANSWER_BYTES)
    except urllib.error.HTTPError as exc:
        exc.close()  # an HTTP error is also the answer, with its connection open
        raise AddonError(
            f"no broker in the options, and the Supervisor has none (HTTP {exc.code}): install the Mosquitto "
            "add-on, or fill in mqtt_host"
        ) from exc
    except ValueError as exc:
        raise AddonError(
            f"no broker in the options, and the Supervisor's answer {exc}: fill in mqtt_host"
        ) from exc
    except OSError as exc:
        raise AddonError(f"no broker in the options, and the Supervisor did not answer ({exc})") from exc
    if not isinstance(body, dict):
        raise AddonError(
            f"no broker in the options, and the Supervisor answered a JSON {type(body).__name__}, not an "
            "object: fill in mqtt_host"
        )
    data = body.get("data")
    if body.get("result") != "ok" or not isinstance(data, dict) or not data.get("host"):
        raise AddonError("no broker in the options, and the Supervisor's answer names none")
    return data


def bridge_config(options: Mapping[str, Any], broker: Mapping[str, Any] | None) -> dict[str, Any]:
    """The bridge's config from the add-on's options; `broker` is the Supervisor's MQTT service, used
    when the options name no broker."""
    mqtt: dict[str, Any] = {"base_topic": options.get("base_topic") or "eg4"}
    if options.get("mqtt_host"):
        mqtt |= {
            "host": options["mqtt_host"],
            "port": options.get("mqtt_port") or 1883,
            "username": options.get("mqtt_username") or None,
            "password": options.get("mqtt_password") or None,
        }
    elif broker is not None:
        mqtt |= {
            "host": broker["host"],
            "port": broker.get("port", 1883),
            "username": broker.get("username"),
            "password": broker.get("password"),
        }
    config: dict[str, Any] = {
        "cloud": {
            "base_url": options.get("cloud_base_url"),
            "username": options.get("cloud_username"),
            "password": options.get("cloud_password"),
        },
        "transport": options.get("transport", "cloud"),
        "inverters": _dongles(options.get("dongles") or []) | _adapters(options.get("adapters") or []),
        "mqtt": mqtt,
        "polling": {
            "runtime_seconds": options.get("runtime_seconds", 60),
            "parameters_seconds": options.get("parameters_seconds", 300),
        },
        # Reached through the ingress proxy, from outside the add-on's own network namespace.
        "health": {"enabled": True, "host": "0.0.0.0", "port": INGRESS_PORT},
        "control": {
            "read_only": bool(options.get("read_only", False)),
            "max_charge_current": options.get("max_charge_current"),
            "max_discharge_current": options.get("max_discharge_current"),
        },
        "log_level": options.get("log_level", "INFO"),
    }
    if config["transport"] == "local" and not options.get("cloud_username"):
        del config["cloud"]  # local control with no cloud account at all
    return config


def _dongles(entries: list[Mapping[str, Any]]) -> dict[str, Any]:
    """The add-on's list of dongles as the config's `inverters.<serial>.dongle`."""
    inverters: dict[str, Any] = {}
    for entry in entries:
        dongle = {"host": entry.get("host"), "serial": entry.get("dongle_serial")}
        if entry.get("port"):
            dongle["port"] = entry["port"]
        inverters[str(entry.get("inverter_serial"))] = {"dongle": dongle}
    return inverters


def _adapters(entries: list[Mapping[str, Any]]) -> dict[str, Any]:
    """The add-on's list of RS485 adapters as the config's `inverters.<serial>.modbus`: `host` (and `port`)
    for Modbus TCP, or `device` for a USB adapter passed through to the add-on (Modbus RTU)."""
    inverters: dict[str, Any] = {}
    for entry in entries:
        adapter = {key: entry[key] for key in ("host", "port", "device", "unit") if entry.get(key)}
        inverters[str(entry.get("inverter_serial"))] = {"modbus": adapter}
    return inverters


def write_config(options_path: Path, config_path: Path, supervisor_url: str, token: str | None) -> None:
    """Read the options, ask the Supervisor for a broker if they name none, check the result as `run`
    would, and write it readable by its owner only."""
    try:
        options = safejson.loads(options_path.read_bytes(), max_bytes=MAX_ANSWER_BYTES)
    except (OSError, ValueError) as exc:
        raise AddonError(f"{options_path} cannot be read: {exc}") from exc
    if not isinstance(options, dict):
        raise AddonError(f"{options_path} does not hold the add-on's options")
    broker = None if options.get("mqtt_host") else mqtt_from_supervisor(supervisor_url, token)
    config = bridge_config(options, broker)
    try:
        settings_from_mapping(config, environ={})
    except ConfigError as exc:
        raise AddonError("the options cannot be used: " + "; ".join(exc.problems)) from exc
    config_path.write_text(yaml.safe_dump(config, sort_keys=False))
    config_path.chmod(0o600)


def main() -> int:
    """The add-on's entry point: write the config from the options, then become the bridge (exec)."""
    try:
        write_config(OPTIONS, CONFIG, SUPERVISOR_MQTT, os.environ.get("SUPERVISOR_TOKEN"))
    except AddonError as exc:
        print(f"eg4-bridge add-on: {exc}", file=sys.stderr)
        return 2
    os.execvp(sys.executable, [sys.executable, "-m", "bridge.service.cli", "run", "--config", str(CONFIG)])
    return 0  # not reached: exec replaces this process


if __name__ == "__main__":
    sys.exit(main())
