"""Each inverter's config is rendered once per shape and its serial put in: what is sent must be, byte for
byte, the config rendered for that inverter alone."""

from __future__ import annotations

import json

import pytest

from bridge.core.config import Settings
from bridge.core.devices import Device
from bridge.core.families import Family
from bridge.core.fleet import Fleet
from bridge.mqtt.announcer import Announcer
from bridge.mqtt.discovery import abbreviated, device_config
from bridge.mqtt.topics import Topics
from tests.unit.fakes import Recorder

pytestmark = pytest.mark.unit

SAME_SHAPE = ("4512345600", "4512345601")
OTHER_MODEL = "5512345602"


def _announced(settings: Settings, devices: list[Device]) -> tuple[Topics, Fleet, dict[str, str]]:
    topics, recorder = Topics(), Recorder()
    fleet = Fleet(settings)
    for device in devices:
        fleet.add(device)
    announcer = Announcer(topics, settings, fleet)
    announcer.attach(recorder)
    announcer.announce()
    announcer.discovery()  # after a refresh: the shapes rendered before are used again
    sent: dict[str, str] = {}
    for topic, payload in recorder.published:
        if topic.endswith("/config"):
            sent[topic] = payload
    return topics, fleet, sent


def _alone(topics: Topics, settings: Settings, fleet: Fleet, device: Device) -> str:
    serial = device.serial
    config = device_config(
        topics,
        device,
        fleet.settings_of(serial),
        settings.limits_for(serial),
        held={},
        sensors=fleet.sensors_of(serial),
        last_event=False,
    )[1]
    return json.dumps(abbreviated(config), separators=(",", ":"), ensure_ascii=False)


def test_inverters_of_one_shape_each_get_the_config_rendered_for_them_alone() -> None:
    settings = Settings.model_validate(
        {
            "cloud": {"username": "someone", "password": "secret"},
            # One inverter with limits of its own: a shape of its own.
            "inverters": {SAME_SHAPE[1]: {"max_charge_current": 80}},
        }
    )
    devices = [
        Device(SAME_SHAPE[0], "18kPV", "fAAB-2122", Family.EG4_HYBRID),
        Device(SAME_SHAPE[1], "18kPV", "fAAB-2122", Family.EG4_HYBRID),
        Device(OTHER_MODEL, "12000XP", None, Family.EG4_OFF_GRID, parallel_group="1_A"),
        Device("4512345603", "18kPV", "fAAB-2122", Family.EG4_HYBRID),
    ]
    topics, fleet, sent = _announced(settings, devices)
    assert len(sent) == len(devices)
    for device in devices:
        config = sent[topics.device_discovery(device.serial)]
        assert config == _alone(topics, settings, fleet, device)
        assert "<serial>" not in config
        others = {other.serial for other in devices} - {device.serial}
        assert not any(other in config for other in others)  # no serial of the shape's first inverter
