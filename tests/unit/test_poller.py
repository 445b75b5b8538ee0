"""The poller with a fake reader at its seam: a settings read that started before a write's read-back
never publishes its older value over the newer one."""

from __future__ import annotations

import asyncio

import pytest

from bridge.core.config import Settings
from bridge.core.fleet import Fleet
from bridge.core.poller import Poller
from bridge.core.readings import (
    BatteryBank,
    Energy,
    Event,
    GridBossRuntime,
    InverterInfo,
    ParameterRead,
    Runtime,
)
from bridge.mqtt.announcer import Announcer
from bridge.mqtt.topics import Topics
from tests.unit.fakes import FakeClock, Recorder, settle

pytestmark = pytest.mark.unit

SERIAL = "4512345600"


class SlowSource:
    """Answers a settings read only when told to, with what the inverter held when the read started."""

    def __init__(self) -> None:
        self.go = asyncio.Event()

    async def inverters(self) -> tuple[InverterInfo, ...]:
        return (
            InverterInfo.model_validate({"serialNum": SERIAL, "deviceTypeText": "18KPV", "deviceType": 6}),
        )

    async def get_runtime(self, serial: str) -> Runtime:
        return Runtime.model_validate({"serialNum": serial})

    async def get_energy(self, serial: str) -> Energy:
        return Energy.model_validate({"serialNum": serial})

    def sensors_of(self, serial: str) -> frozenset[str] | None:
        return None

    async def get_batteries(self, serial: str) -> BatteryBank:
        return BatteryBank(serial=serial)

    async def get_gridboss(self, serial: str) -> GridBossRuntime:
        return GridBossRuntime(serial=serial)

    async def get_last_event(self, serial: str) -> Event | None:
        return None

    async def read_parameters(self, serial: str) -> ParameterRead:
        await self.go.wait()
        return ParameterRead(serial=serial, values={"HOLD_LEAD_ACID_CHARGE_RATE": "100"}, complete=True)


async def test_a_read_that_started_before_a_read_back_does_not_overwrite_it() -> None:
    topics, recorder, clock, source = Topics(), Recorder(), FakeClock(), SlowSource()
    settings = Settings.model_validate({"cloud": {"username": "someone", "password": "secret"}})
    fleet = Fleet(settings)
    announcer = Announcer(topics, settings, fleet)
    announcer.attach(recorder)
    poller = Poller(source, fleet, announcer, settings, clock)
    await poller.discover()
    announcer.announce()  # states are published from now on
    reading = asyncio.create_task(poller.refresh_everything())  # the poll starts: the inverter holds 100
    await settle()
    await clock.advance(1)
    poller.read_back(SERIAL, "battery_charge_current", "150")  # a write, read back holding 150
    source.go.set()  # the poll's answer, with the 100 it read before the write
    await reading
    assert fleet.held(SERIAL)["battery_charge_current"] == "150"
    charge = topics.state(SERIAL, "battery/charge_current")
    assert (charge, "100") not in recorder.published


class ChangingSource(SlowSource):
    """A settings read whose device type code changes: the second answer is not this inverter's."""

    def __init__(self) -> None:
        super().__init__()
        self.go.set()
        self.codes = ["2092", "54"]

    async def read_parameters(self, serial: str) -> ParameterRead:
        code = self.codes.pop(0)
        value = "25" if code == "2092" else "200"
        values = {"HOLD_LEAD_ACID_CHARGE_RATE": value, "HOLD_DEVICE_TYPE_CODE": code}
        return ParameterRead(serial=serial, values=values, complete=True)


async def test_a_read_whose_canary_changed_is_dropped_counted_and_never_published() -> None:
    topics, recorder, clock = Topics(), Recorder(), FakeClock()
    settings = Settings.model_validate({"cloud": {"username": "someone", "password": "secret"}})
    fleet = Fleet(settings)
    announcer = Announcer(topics, settings, fleet)
    announcer.attach(recorder)
    poller = Poller(ChangingSource(), fleet, announcer, settings, clock)
    await poller.discover()
    announcer.announce()
    await poller.refresh_everything()
    await poller.refresh_everything()
    assert fleet.held(SERIAL)["battery_charge_current"] == "25"
    assert fleet.readings_dropped == 1
    assert (topics.state(SERIAL, "battery/charge_current"), "200") not in recorder.published
