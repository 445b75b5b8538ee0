"""What the MQTT client library logs, as the link reads it: every packet's debug line is dropped before a
record is made, except the broker's DISCONNECT, from which a session taken over by another client with the
bridge's client id (reason 142) is learnt."""

from __future__ import annotations

import logging

import pytest
from paho.mqtt.packettypes import PacketTypes
from paho.mqtt.reasoncodes import ReasonCode

from bridge.mqtt.link import DISCONNECT_LINE, _ClientLog, _TakeoverWatch

pytestmark = pytest.mark.unit


class Kept(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)


def _client_log() -> tuple[_ClientLog, _TakeoverWatch, Kept]:
    client_log = _ClientLog("eg4-bridge.mqtt.test", logging.DEBUG)
    client_log.propagate = False
    watch, kept = _TakeoverWatch(), Kept()
    client_log.addHandler(watch)
    client_log.addHandler(kept)
    return client_log, watch, kept


def test_a_disconnect_for_a_session_taken_over_is_learnt_and_no_other_reason_is() -> None:
    client_log, watch, kept = _client_log()
    client_log.log(logging.DEBUG, "Sending PUBLISH (d%d, q%d, r%d, m%d), '%s', ...", 0, 1, 1, 7, "eg4/x")
    client_log.log(logging.DEBUG, "Received PUBACK (Mid: %d)", 7)
    assert kept.records == [], "a packet's debug line makes no record"
    server_shutting_down = ReasonCode(PacketTypes.DISCONNECT, identifier=139)
    client_log.log(logging.DEBUG, DISCONNECT_LINE, server_shutting_down, None)
    assert not watch.taken_over
    taken_over = ReasonCode(PacketTypes.DISCONNECT, identifier=142)
    client_log.log(logging.DEBUG, DISCONNECT_LINE, taken_over, None)
    assert watch.taken_over
    assert len(kept.records) == 2


def test_the_librarys_warnings_still_reach_its_usual_logger() -> None:
    client_log, watch, _kept = _client_log()
    seen = Kept()
    library = logging.getLogger("mqtt")
    library.addHandler(seen)
    try:
        client_log.log(logging.WARNING, "failed to receive on socket: %s", "reset")
    finally:
        library.removeHandler(seen)
    assert [record.getMessage() for record in seen.records] == ["failed to receive on socket: reset"]
    assert not watch.taken_over
