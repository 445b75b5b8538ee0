"""The result message (`result_payload`): the JSON published on a command's /result topic."""

from __future__ import annotations

import json

import pytest

from bridge.core.commands import Command, Outcome, Result, result_payload

pytestmark = pytest.mark.unit

SERIAL = "4512345600"


def command(payload: str) -> Command:
    return Command(
        f"eg4/{SERIAL}/battery/charge_current/set", SERIAL, "battery/charge_current", payload.encode(), False
    )


def answer(payload: str, result: Result) -> dict[str, object]:
    message: dict[str, object] = json.loads(result_payload(command(payload), result))
    return message


def test_a_confirmed_result_in_full() -> None:
    accepted = answer("80", Result(Outcome.ACCEPTED, value=80, applied=True, confirmed=True, attempts=1))
    assert {key: value for key, value in accepted.items() if key != "ts"} == {
        "ok": True,
        "outcome": "accepted",
        "value": 80,
        "requested": "80",
        "error": None,
        "applied": True,
        "confirmed": True,
        "attempts": 1,
    }


@pytest.mark.parametrize(
    ("result", "ok"),
    [
        pytest.param(Result(Outcome.ACCEPTED, value=80, applied=True, confirmed=True), True, id="confirmed"),
        pytest.param(Result(Outcome.UNCONFIRMED, value=80, applied=True), False, id="unconfirmed"),
        pytest.param(Result(Outcome.RECHECKED, value=80, found=25, error="no"), False, id="an error"),
        pytest.param(
            Result(Outcome.ACCEPTED, value=80, confirmed=True, error="no"), False, id="confirmed, an error"
        ),
    ],
)
def test_a_result_says_ok_only_when_confirmed_without_error(result: Result, ok: bool) -> None:
    assert answer("80", result)["ok"] is ok


def test_a_rechecked_result_says_what_was_found_and_when() -> None:
    found = answer("80", Result(Outcome.RECHECKED, value=80, found=25, error="no"))
    assert found["found"] == 25
    assert isinstance(found["ts"], str)
    assert found["ts"].endswith("Z")


def test_a_result_says_which_way_the_write_went_once_one_was_sent() -> None:
    local = answer("80", Result(Outcome.ACCEPTED, value=80, via="dongle"))
    assert local["via"] == "dongle"
    assert list(local)[-2:] == ["via", "ts"]
    refused = answer("x", Result(Outcome.REFUSED, error="not a number"))
    assert "via" not in refused  # nothing was sent anywhere


@pytest.mark.parametrize(
    ("payload", "error", "requested", "said"),
    [
        pytest.param("8" * 70, "e" * 1000, "8" * 64 + "…", "e" * 300 + "…", id="cut"),
        pytest.param("80", "e" * 300, "80", "e" * 300, id="exactly the limit kept"),
    ],
)
def test_a_result_cuts_long_texts_short(payload: str, error: str, requested: str, said: str) -> None:
    long = answer(payload, Result(Outcome.FAILED, error=error))
    assert (long["requested"], long["error"]) == (requested, said)


def test_a_result_writes_text_unescaped() -> None:
    text = result_payload(command("é"), Result(Outcome.REFUSED, error="ü"))
    assert '"requested": "é"' in text
    assert '"error": "ü"' in text
