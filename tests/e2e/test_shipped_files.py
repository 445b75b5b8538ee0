"""The files shipped beside the code (container, systemd unit, docs) agree with what the code does."""

from __future__ import annotations

import configparser
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from bridge.core.catalogue import SENSORS, SETTINGS
from bridge.core.devices import Device
from bridge.core.readings import parse_battery_bank
from bridge.mqtt.discovery import battery_module_config, device_config, gridboss_config, group_config
from bridge.mqtt.topics import Topics
from bridge.service.daemon import running_bridge
from bridge.simulator import SimulatorState, run_simulator
from tests.harness import Broker, bridge_settings, free_port, unique_topics

pytestmark = pytest.mark.e2e

ROOT = Path(__file__).parents[2]
DOCS = ROOT / "docs"
EXAMPLE_SERIAL = "1234567890"


def home_assistant_entity_ids() -> set[str]:
    """The entity ids Home Assistant derives from our discovery: device name, then entity name, slugified."""
    inverter = Device(EXAMPLE_SERIAL, "18KPV")
    ids = set()
    _topic, config = device_config(Topics(), inverter, SETTINGS)
    assert config is not None
    for component in config["cmps"].values():
        if "name" not in component:
            continue  # a retired entity's removal: its platform alone
        name = f"{config['device']['name']} {component['name']}"
        ids.add(f"{component['platform']}.{re.sub(r'[^a-z0-9]+', '_', name.lower()).strip('_')}")
    return ids


def entity_ids_in(node: Any) -> list[str]:
    if isinstance(node, dict):
        return [
            i
            for key, value in node.items()
            for i in ([value] if key == "entity_id" and isinstance(value, str) else entity_ids_in(value))
        ]
    if isinstance(node, list):
        return [i for item in node for i in entity_ids_in(item)]
    return []


@pytest.mark.parametrize("name", ["prevent-throttling", "time-of-use", "weather-based", "cloudy-tomorrow"])
def test_documented_automations_use_the_entities_the_bridge_announces(name: str) -> None:
    automations = yaml.safe_load((DOCS / "automations" / f"{name}.yaml").read_text())
    assert isinstance(automations, list)
    assert all({"alias", "trigger", "action"} <= set(automation) for automation in automations)
    used = [
        entity
        for entity in entity_ids_in(automations)
        if entity.startswith(("number.", "sensor.", "switch.", "text."))
    ]
    assert used, "an automation that steers nothing"
    assert set(used) <= home_assistant_entity_ids()


def test_the_readme_automations_use_announced_entities() -> None:
    readme = (ROOT / "README.md").read_text()
    used = set(re.findall(r"\b(?:number|sensor|switch|text)\.eg4_[a-z0-9_]+", readme))
    assert used
    assert used <= home_assistant_entity_ids()


def test_the_node_red_flow_is_importable_and_speaks_our_topics() -> None:
    flow = json.loads((DOCS / "node-red-flow.json").read_text())
    ids = {node["id"] for node in flow}
    assert len(ids) == len(flow)
    for node in flow:
        for outputs in node.get("wires", []):
            assert set(outputs) <= ids
        if "broker" in node and node["type"] != "mqtt-broker":
            assert node["broker"] in ids
    topics = Topics()
    senders = [node for node in flow if node["type"] == "mqtt out"]
    assert {node["topic"] for node in senders} == {
        topics.command(EXAMPLE_SERIAL, path)
        for path in ("battery/charge_current", "ac_charge/window_1", "ac_charge/enabled")
    }
    assert {node["retain"] for node in senders} == {"false"}
    listened = {node["topic"] for node in flow if node["type"] == "mqtt in"}
    assert listened == {
        topics.state(EXAMPLE_SERIAL, "battery/charge_current"),
        f"eg4/{EXAMPLE_SERIAL}/+/+/result",
    }
    injected = {node["payload"] for node in flow if node["type"] == "inject"}
    assert {"01:00-05:00", "ON", "OFF"} <= injected, "a time window and a switch, in the payloads they take"


def test_the_openhab_things_speak_our_topics() -> None:
    topics = Topics()
    known = {topics.availability(EXAMPLE_SERIAL)}
    for setting in SETTINGS:
        known |= {
            f(EXAMPLE_SERIAL, setting.topic_path) for f in (topics.state, topics.command, topics.result)
        }
    known |= {topics.state(EXAMPLE_SERIAL, sensor.topic_path) for sensor in SENSORS}
    things = (DOCS / "openhab" / "eg4.things").read_text()
    used = re.findall(r'(?:state|command)Topic="([^"]+)"', things)
    assert len(used) >= 8
    assert set(used) <= known
    channels = set(re.findall(r"Type \w+ : (\w+)", things))
    items = (DOCS / "openhab" / "eg4.items").read_text()
    assert set(re.findall(r'channel="mqtt:topic:eg4_1234567890:(\w+)"', items)) <= channels


def test_every_troubleshooting_message_is_one_the_bridge_really_emits() -> None:
    """Each `### \\`message\\`` heading appears in the bridge's source, so the page cannot drift from the code."""
    headings = re.findall(r"^### `([^`]+)`", (DOCS / "troubleshooting.md").read_text(), flags=re.MULTILINE)
    assert len(headings) >= 25
    source = "\n".join(path.read_text() for path in (ROOT / "bridge").rglob("*.py"))
    missing = [heading for heading in headings if heading not in source]
    assert missing == []


def test_the_systemd_unit_is_hardened_and_valid() -> None:
    unit = configparser.ConfigParser(strict=False, interpolation=None)
    unit.optionxform = str  # type: ignore[assignment,method-assign]
    unit.read(ROOT / "systemd" / "eg4-bridge.service")
    service = unit["Service"]
    assert service["Type"] == "notify"
    assert service["Restart"] == "on-failure"
    assert int(service["WatchdogSec"]) > 0
    assert service["DynamicUser"] == service["NoNewPrivileges"] == service["PrivateTmp"] == "yes"
    assert (service["ProtectSystem"], service["ProtectHome"]) == ("strict", "yes")
    assert "AF_UNIX" in service["RestrictAddressFamilies"].split()  # the notify socket
    assert service["EnvironmentFile"].startswith("/etc/eg4-bridge/")
    assert service["ExecStart"].endswith("eg4-bridge run --config /etc/eg4-bridge/config.yaml")
    assert unit["Install"]["WantedBy"] == "multi-user.target"


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze is not installed")
def test_systemd_analyze_finds_nothing_wrong(tmp_path: Path) -> None:
    executable = Path(sys.executable).parent / "eg4-bridge"
    text = (ROOT / "systemd" / "eg4-bridge.service").read_text()
    text = text.replace("/opt/eg4-mqtt-bridge/.venv/bin/eg4-bridge", str(executable))
    unit = tmp_path / "eg4-bridge.service"
    unit.write_text(text)
    done = subprocess.run(
        ["systemd-analyze", "verify", str(unit)], capture_output=True, text=True, timeout=60, check=False
    )
    problems = [line for line in (done.stdout + done.stderr).splitlines() if "eg4-bridge.service" in line]
    assert problems == []


def test_the_dockerfile_installs_as_the_readme_does_and_checks_health() -> None:
    dockerfile = (ROOT / "Dockerfile").read_text()
    assert re.search(r"^FROM python:3\.\d+-slim$", dockerfile, flags=re.MULTILINE)
    assert "RUN pip install ." in dockerfile
    assert ".venv/bin/pip install ." in (ROOT / "README.md").read_text()
    for source in re.findall(r"^COPY (.+) \S+$", dockerfile, flags=re.MULTILINE):
        for name in source.split():
            assert (ROOT / name).exists(), name
    assert re.search(r"^USER \w+$", dockerfile, flags=re.MULTILINE)
    assert 'CMD ["eg4-bridge", "healthcheck", "--config", "/config/config.yaml"]' in dockerfile
    assert "EG4_HEALTH_ENABLED=true" in dockerfile
    compose = yaml.safe_load((ROOT / "docker-compose.example.yaml").read_text())
    assert set(compose["services"]) == {"mosquitto", "eg4-bridge"}


async def test_the_container_health_check_tells_a_live_bridge_from_a_dead_one(
    broker: Broker, tmp_path: Path
) -> None:
    """`eg4-bridge healthcheck --config`, the container's HEALTHCHECK, follows the config's health.port:
    exit 0 against a live bridge and 1 without one."""
    port = free_port()
    config = tmp_path / "config.yaml"
    config.write_text(
        f"cloud: {{username: demo, password: demo}}\nhealth: {{enabled: true, host: 0.0.0.0, port: {port}}}\n"
    )
    config.chmod(0o600)

    def probe() -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "bridge.service.cli", "healthcheck", "--config", str(config)],
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )

    async with run_simulator(SimulatorState(inverter_count=1)) as simulator:
        settings = bridge_settings(
            simulator, broker.port, unique_topics(), health={"enabled": True, "port": port}
        )
        async with running_bridge(settings):
            import asyncio

            live = await asyncio.to_thread(probe)
            assert live.returncode == 0, live.stderr
            assert json.loads(live.stdout)["status"] == "ok"
    dead = probe()
    assert dead.returncode == 1
    assert f"http://127.0.0.1:{port}/healthz" in dead.stderr
    assert "Connection refused" in dead.stderr


def test_docs_settings_is_the_rows() -> None:
    """docs/SETTINGS.md lists every setting with its register, unit, range, families and sources, as the
    rows hold them (`python -m bridge.service.tables --write`)."""
    from bridge.core.catalogue import SETTINGS
    from bridge.service.tables import settings_doc

    written = (DOCS / "SETTINGS.md").read_text()
    assert written == settings_doc()
    for setting in SETTINGS:
        assert f"### `{setting.topic_path}`" in written
        assert all(source.value in written for source in setting.provenance.agree)


def test_the_readme_tables_are_the_catalogue() -> None:
    """The settings and sensors tables say exactly what the catalogue holds (`python -m bridge.service.tables --write`)."""
    from bridge.service.tables import with_tables

    readme = (ROOT / "README.md").read_text()
    assert with_tables(readme) == readme


def whole_system_entity_ids() -> set[str]:
    """The entity ids of every device kind the bridge announces: an inverter, its battery modules, a
    GridBOSS and a parallel group, as Home Assistant derives them."""
    topics, inverter = Topics(), Device(EXAMPLE_SERIAL, "18KPV")
    bank = parse_battery_bank(
        {"batteryArray": [{"batterySn": f"Battery_ID_0{n}", "batIndex": n - 1} for n in (1, 2)]},
        EXAMPLE_SERIAL,
    )
    configs = [
        device_config(topics, inverter, SETTINGS, last_event=True)[1],
        *(battery_module_config(topics, inverter, module) for module in bank.modules),
        gridboss_config(topics, "4812345602", "Grid Boss"),
        group_config(topics, "4100_A", [EXAMPLE_SERIAL, "1234567891"]),
    ]
    return {
        f"{component['platform']}.{re.sub(r'[^a-z0-9]+', '_', name.lower()).strip('_')}"
        for config in configs
        for component in config["cmps"].values()
        if "name" in component
        for name in [f"{config['device']['name']} {component['name']}"]
    }


def test_the_dashboard_shows_entities_the_bridge_announces() -> None:
    view = yaml.safe_load((DOCS / "dashboard.yaml").read_text())
    used = {row["entity"] for card in view["cards"] for row in card["entities"]}
    assert len(used) > 20
    assert used <= whole_system_entity_ids()
