"""The cloud's event log: its answer parsed and checked at the boundary, and read through the cloud alone."""

from __future__ import annotations

import json
from typing import Any, cast

import pytest

from bridge.core.config import Settings
from bridge.core.errors import MalformedResponseError, NotAllowedError, NoTransportError, RefusedError
from bridge.core.readings import parse_last_event
from bridge.transports.cloud import CloudClient
from bridge.transports.cloud.answers import interpret
from bridge.transports.cloud.client import EVENTS_PATH
from bridge.transports.router import Router
from tests.unit.fakes import FakeClock, FakeCloud

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
