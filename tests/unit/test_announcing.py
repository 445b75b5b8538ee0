"""An announcement goes out an inverter at a time: after each inverter's config, and after each
inverter's states, it waits for room at the link, so a fleet's messages are never all queued at once;
every config still goes before any state."""

from __future__ import annotations

import pytest

from bridge.core.config import Settings
from bridge.core.devices import Device
from bridge.core.families import Family
from bridge.core.fleet import Fleet
from bridge.mqtt.announcer import Announcer
from bridge.mqtt.topics import Topics
from tests.unit.fakes import Recorder

pytestmark = pytest.mark.unit

SERIALS = [f"45123456{number:02d}" for number in range(5)]


class Pacer:
    """A link's `room`: records how many messages were published each time it is awaited."""

    def __init__(self, recorder: Recorder) -> None:
        self.recorder = recorder
        self.published_at_each_wait: list[int] = []

    async def room(self) -> None:
        self.published_at_each_wait.append(len(self.recorder.published))


def _fleet_of_five(settings: Settings) -> Fleet:
    fleet = Fleet(settings)
    for serial in SERIALS:
        fleet.add(Device(serial, "18kPV", "fAAB-2122", Family.EG4_HYBRID))
        fleet.mark_online(serial, True)
        fleet[serial].held["battery_charge_current"] = "100"
        fleet[serial].held["battery_discharge_current"] = "120"
    return fleet


@pytest.mark.parametrize("paced", ["announce_paced", "discovery_paced"])
async def test_a_paced_announcement_waits_for_room_after_each_inverter(paced: str) -> None:
    settings = Settings.model_validate({"cloud": {"username": "someone", "password": "secret"}})
    fleet = _fleet_of_five(settings)
    topics, recorder = Topics(), Recorder()
    pacer = Pacer(recorder)
    announcer = Announcer(topics, settings, fleet)
    announcer.attach(recorder, pacer.room)
    announcer.announce()  # the first announcement (and its migration) is out
    recorder.published.clear()
    await getattr(announcer, paced)()
    waits = pacer.published_at_each_wait
    phases = 2 if paced == "announce_paced" else 1  # configs, then states; or configs alone
    assert len(waits) == phases * len(SERIALS)
    steps = [after - before for before, after in zip([0, *waits], waits, strict=False)]
    configs = [topic for topic, _payload in recorder.published if topic.endswith("/config")]
    assert len(configs) == len(SERIALS)
    assert steps[: len(SERIALS)] == [1] * len(SERIALS)  # one inverter's config at each step
    if phases == 2:
        assert all(0 < step <= 10 for step in steps[len(SERIALS) :])  # one inverter's states at each step
        last_config = max(
            index for index, (topic, _p) in enumerate(recorder.published) if topic.endswith("/config")
        )
        first_state = min(
            index for index, (topic, _p) in enumerate(recorder.published) if topic.endswith("/state")
        )
        assert last_config < first_state


async def test_without_a_room_everything_goes_at_once_as_before() -> None:
    settings = Settings.model_validate({"cloud": {"username": "someone", "password": "secret"}})
    fleet = _fleet_of_five(settings)
    recorder = Recorder()
    announcer = Announcer(Topics(), settings, fleet)
    announcer.attach(recorder)
    await announcer.announce_paced()
    states = [
        topic
        for topic, _payload in recorder.published
        if topic.endswith("/charge_current/state") and "/battery/" in topic and "dis" not in topic
    ]
    assert len(states) == len(SERIALS)
