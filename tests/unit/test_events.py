"""The cloud's event log as a Last Event sensor: its answer parsed and checked at the boundary, read through
the cloud alone, and said on MQTT: the newest event in words, its details as attributes, `none` when there
is none, and nothing at all where the account is refused the log."""

from __future__ import annotations

import json
from typing import Any, cast

import pytest

from bridge.core.config import Settings
from bridge.core.errors import MalformedResponseError, NotAllowedError, NoTransportError, RefusedError
from bridge.core.fleet import Fleet
from bridge.core.poller import Poller
from bridge.core.readings import Event, parse_last_event
from bridge.mqtt.announcer import Announcer
from bridge.mqtt.discovery import abbreviated
from bridge.mqtt.topics import Topics
from bridge.transports.cloud import CloudClient
from bridge.transports.cloud.answers import interpret
from bridge.transports.cloud.client import EVENTS_PATH
from bridge.transports.router import Router
from tests.unit.fakes import FakeClock, FakeCloud, Recorder
from tests.unit.test_poller import SlowSource

pytestmark = pytest.mark.unit

SERIAL = "4512345600"
#: A closed row and an ongoing one in the live shape (eg4_web_monitor `tests/test_last_event.py`, built from
#: answers pylxpweb validated live on 2026-07-16): the ongoing row has no `renormalSlashTime`.
CLOSED = {
    "recordId": 7583193,
    "plantName": "Test Plant",
    "serialNum": SERIAL,
    "datalogSn": "SYNTH00006",
    "eventTypeText": "Fault",
    "eventType": "FAULT",
    "eventText": "Bus voltage high",
    "event": "E019",
    "startTime": "2026-07-01 16:50:28",
    "renormalTime": "2026-07-01 18:04:31",
    "faultDuration": "1.23",
    "startSlashTime": "2026/07/01 16:50:28",
    "renormalSlashTime": "2026/07/01 18:04:31",
    "status": "CLOSE",
}
ONGOING = {
    "recordId": 7298160,
    "serialNum": SERIAL,
    "eventTypeText": "Notice",
    "eventType": "WARNING",
    "eventText": "Grid frequency abnormality",
    "event": "W018",
    "startTime": "2026-06-15 15:45:24",
    "renormalTime": None,
    "status": "OPEN",
}


def answer(*rows: dict[str, Any], total: int | None = None) -> dict[str, Any]:
    return {"success": True, "total": len(rows) if total is None else total, "rows": list(rows)}


# -- the answer ---------------------------------------------------------------------------------------


def test_a_closed_event_is_parsed_in_words_with_its_times_and_duration() -> None:
    event = parse_last_event(answer(CLOSED, total=12), SERIAL)
    assert event is not None
    assert (event.record_id, event.code, event.text, event.type) == (
        7583193,
        "E019",
        "Bus voltage high",
        "FAULT",
    )
    assert (event.start, event.end, event.duration_hours) == (
        "2026-07-01 16:50:28",
        "2026-07-01 18:04:31",
        1.23,
    )
    assert (event.ongoing, event.summary) == (False, "E019 Bus voltage high")


def test_an_ongoing_event_has_no_end_and_says_so() -> None:
    event = parse_last_event(answer(ONGOING), SERIAL)
    assert event is not None
    assert (event.end, event.duration_hours, event.ongoing) == (None, None, True)
    assert event.summary == "W018 Grid frequency abnormality"


def test_an_unknown_status_is_passed_on_and_ongoing_is_not_guessed() -> None:
    event = parse_last_event(answer(CLOSED | {"status": "PENDING"}), SERIAL)
    assert event is not None
    assert (event.status, event.ongoing) == ("PENDING", None)


def test_an_empty_log_is_no_event_not_an_error() -> None:
    assert parse_last_event(answer(), SERIAL) is None


def test_a_long_text_is_cut_to_what_home_assistant_keeps_of_a_state() -> None:
    event = parse_last_event(answer(CLOSED | {"eventText": "x" * 400}), SERIAL)
    assert event is not None
    assert len(event.summary) == 255
    assert event.text == "x" * 400, "the attributes keep every word"


@pytest.mark.parametrize(
    ("payload", "problem"),
    [
        ({"success": True, "rows": [CLOSED]}, "has unexpected fields: total: Field required"),
        ({"success": True, "total": 1, "rows": "none"}, "has unexpected fields: rows: Input should be"),
        (answer({k: v for k, v in CLOSED.items() if k != "event"}), "rows.0.event: Field required"),
        (answer(CLOSED | {"event": ""}), "rows.0.event: String should have at least 1 character"),
        (answer(CLOSED | {"recordId": "seven"}), "rows.0.recordId: Input should be a valid integer"),
        (answer(CLOSED | {"startTime": "01/07/2026"}), "rows.0.startTime: String should match pattern"),
        (answer(CLOSED | {"faultDuration": "long"}), "rows.0.faultDuration: Input should be a valid number"),
        (answer(total=3), "counts 3 events but lists none"),
        (answer(CLOSED | {"serialNum": "4512345601"}), "is for 4512345601, but 4512345600 was asked for"),
    ],
)
def test_a_malformed_answer_is_refused_saying_what_is_wrong(payload: dict[str, Any], problem: str) -> None:
    with pytest.raises(MalformedResponseError, match="event log answer") as refused:
        parse_last_event(payload, SERIAL)
    assert problem in refused.value.message
    assert refused.value.serial == SERIAL


def test_a_refused_log_is_a_refusal_with_the_clouds_words() -> None:
    """`success: false` is turned into an error before parsing; the client makes it `NotAllowedError` (its
    test over HTTP is in tests/e2e/test_cloud_client.py)."""
    body = json.dumps({"success": False, "msg": "permissionDenied"}).encode()
    with pytest.raises(RefusedError) as refused:
        interpret(EVENTS_PATH, 200, "application/json", "", body)
    assert refused.value.server_text == "permissionDenied"
    assert issubclass(NotAllowedError, RefusedError), "a caller that handles refusals handles this one"


# -- the router ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(("mode", "asked"), [("cloud", True), ("hybrid", True), ("local", False)])
async def test_the_event_log_is_read_through_the_cloud_only(mode: str, asked: bool) -> None:
    own = {"dongle": {"host": "192.0.2.1", "serial": "BA12345678"}} if mode != "cloud" else {}
    settings = Settings.model_validate(
        {"transport": mode, "inverters": {SERIAL: own}, "cloud": {"username": "someone", "password": "x"}}
    )
    cloud = FakeCloud()
    router = Router(cast(CloudClient, cloud), {}, settings, FakeClock())
    if asked:
        assert await router.get_last_event(SERIAL) is None
        assert cloud.calls == [("get_last_event", SERIAL)]
    else:
        with pytest.raises(NoTransportError, match="the event log is read through the cloud only"):
            await router.get_last_event(SERIAL)
        assert cloud.calls == [], "local never asks the cloud"


# -- the poller and MQTT ------------------------------------------------------------------------------


class EventSource(SlowSource):
    """Answers every read at once; the event log gives what `answers` holds next."""

    def __init__(self, *answers: Event | Exception | None) -> None:
        super().__init__()
        self.go.set()
        self.answers = list(answers)

    async def get_last_event(self, serial: str) -> Event | None:
        answered = self.answers.pop(0)
        if isinstance(answered, Exception):
            raise answered
        return answered


class Rig:
    def __init__(self, source: EventSource) -> None:
        self.topics, self.recorder = Topics(), Recorder()
        settings = Settings.model_validate({"cloud": {"username": "someone", "password": "secret"}})
        self.fleet = Fleet(settings)
        self.announcer = Announcer(self.topics, settings, self.fleet)
        self.announcer.attach(self.recorder)
        self.poller = Poller(source, self.fleet, self.announcer, settings, FakeClock())

    async def start(self) -> list[tuple[str, str]]:
        """Discovery and the first announcement; what it said."""
        await self.poller.discover()
        self.announcer.announce()
        return self.said()

    def said(self) -> list[tuple[str, str]]:
        said, self.recorder.published[:] = list(self.recorder.published), []
        return said

    def on(self, said: list[tuple[str, str]], topic: str) -> list[str]:
        return [payload for where, payload in said if where == topic]

    def components(self, said: list[tuple[str, str]]) -> dict[str, Any]:
        configs = self.on(said, self.topics.device_discovery(SERIAL))
        assert configs, "discovery was said again"
        components: dict[str, Any] = json.loads(configs[-1])["cmps"]
        return components

    @property
    def state(self) -> str:
        return self.topics.state(SERIAL, "inverter/last_event")

    @property
    def attributes(self) -> str:
        return self.topics.last_event_attributes(SERIAL)


def event(row: dict[str, Any]) -> Event:
    parsed = parse_last_event(answer(row), SERIAL)
    assert parsed is not None
    return parsed


async def test_an_event_is_said_in_words_with_its_attributes_first_and_the_sensor_announced() -> None:
    rig = Rig(
        EventSource(
            event(ONGOING), event(ONGOING | {"status": "CLOSE", "renormalTime": "2026-06-15 16:00:00"})
        )
    )
    await rig.start()
    await rig.poller.refresh_events()
    said = rig.said()
    attributes = {
        "code": "W018",
        "text": "Grid frequency abnormality",
        "type": "WARNING",
        "start": "2026-06-15 15:45:24",
        "end": None,
        "ongoing": True,
        "duration_hours": None,
        "status": "OPEN",
        "record_id": 7298160,
    }
    assert [(topic, payload) for topic, payload in said if "last_event" in topic] == [
        (rig.attributes, json.dumps(attributes, separators=(",", ":"))),
        (rig.state, "W018 Grid frequency abnormality"),
    ]
    component = rig.components(said)["last_event"]
    assert component == abbreviated({"cmps": {"x": component}})["cmps"]["x"]  # sent abbreviated already
    assert (component["stat_t"], component["json_attr_t"]) == (rig.state, rig.attributes)
    assert (component["p"], component["name"], component["ent_cat"]) == ("sensor", "Last Event", "diagnostic")
    await rig.poller.refresh_events()  # it ended: the attributes say so, the state stays
    said = rig.said()
    ended = json.loads(rig.on(said, rig.attributes)[0])
    assert (ended["ongoing"], ended["end"], ended["status"]) == (False, "2026-06-15 16:00:00", "CLOSE")
    assert rig.on(said, rig.state) == []
    assert rig.on(said, rig.topics.device_discovery(SERIAL)) == [], "the same sensors: no new config"


async def test_an_empty_log_says_none_and_no_attributes_never_a_made_up_event() -> None:
    rig = Rig(EventSource(None))
    await rig.start()
    await rig.poller.refresh_events()
    said = rig.said()
    assert (rig.on(said, rig.attributes), rig.on(said, rig.state)) == (["{}"], ["none"])
    assert "last_event" in rig.components(said)


async def test_before_the_log_answers_there_is_no_sensor_and_a_failed_read_keeps_the_last_event() -> None:
    failure = MalformedResponseError("event log answer for 4512345600 has unexpected fields")
    rig = Rig(EventSource(failure, event(CLOSED), failure))
    assert "last_event" not in rig.components(await rig.start())
    await rig.poller.refresh_events()
    assert rig.said() == [], "a failed read says nothing"
    await rig.poller.refresh_events()
    assert rig.on(rig.said(), rig.state) == ["E019 Bus voltage high"]
    await rig.poller.refresh_events()
    assert rig.said() == []
    assert rig.fleet[SERIAL].last_event == event(CLOSED)


async def test_an_account_refused_the_log_loses_the_sensor_and_what_it_said() -> None:
    """Refused after it had answered: the component leaves the device config and both retained topics are
    emptied; asked again later and answered, the sensor comes back."""
    rig = Rig(EventSource(event(CLOSED), NotAllowedError("permissionDenied"), event(CLOSED)))
    await rig.start()
    await rig.poller.refresh_events()
    rig.said()
    await rig.poller.refresh_events()
    said = rig.said()
    assert "last_event" not in rig.components(said)
    assert (rig.on(said, rig.attributes), rig.on(said, rig.state)) == ([""], [""])
    assert rig.fleet[SERIAL].events_offered is False
    await rig.poller.refresh_events()
    said = rig.said()
    assert "last_event" in rig.components(said)
    assert rig.on(said, rig.state) == ["E019 Bus voltage high"]


async def test_under_local_nothing_is_asked_and_nothing_said() -> None:
    rig = Rig(EventSource(NoTransportError("the event log is read through the cloud only")))
    await rig.start()
    await rig.poller.refresh_events()
    assert rig.said() == []
    assert rig.fleet[SERIAL].events_offered is None
