"""Commands from `/set` topics: what was asked, how its payload is read, and the result message."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Final, Literal

from bridge.core.kinds import MAX_PAYLOAD_BYTES, JsonValue, read_number

__all__ = ["MAX_PAYLOAD_BYTES", "Command", "Outcome", "Result", "read_number", "result_payload"]

#: How much of a payload a result echoes in `requested`.
REQUESTED_ECHO_CHARS: Final = 64
#: A result's `error` is cut to this many characters.
MAX_ERROR_CHARS: Final = 300

#: Whether a command's value reached the inverter: yes, no, or it cannot be known yet.
Applied = bool | Literal["unknown"]


class Outcome(StrEnum):
    """What became of a command: the `outcome` of its result, and the label of the commands metric."""

    #: Written, and read back holding the value.
    ACCEPTED = "accepted"
    #: The transport took the write, but reading it back failed or showed another value.
    UNCONFIRMED = "unconfirmed"
    #: Refused by the bridge (bad payload, limit, read-only, retained, ...): nothing was sent.
    REFUSED = "refused"
    #: The transport said no, or could not be reached: nothing was applied.
    FAILED = "failed"
    #: Replaced by a later command for the same setting before it was sent.
    SUPERSEDED = "superseded"
    #: Sent, but no answer came (a timeout, a connection lost): it may or may not have been applied.
    #: The bridge reads the setting again later and publishes a `rechecked` or `reasserted` result.
    UNKNOWN = "unknown"
    #: The follow-up of an `unknown` write: what the inverter was found to hold.
    RECHECKED = "rechecked"
    #: The follow-up of an `unknown` write that landed late over a newer confirmed command: the newer
    #: command's value was written again, once.
    REASSERTED = "reasserted"


@dataclass(frozen=True, slots=True)
class Command:
    """One message received on a `/set` topic."""

    topic: str
    serial: str
    topic_path: str
    payload: bytes
    retained: bool

    @property
    def requested(self) -> str:
        """The payload as received, as text, cut short if long."""
        text = self.payload.decode("utf-8", errors="replace")
        return text if len(text) <= REQUESTED_ECHO_CHARS else text[:REQUESTED_ECHO_CHARS] + "…"


@dataclass(frozen=True, slots=True)
class Result:
    """What became of one command, as its `/result` message says it."""

    outcome: Outcome
    #: The value written (or sent, when its fate is unknown); `None` when nothing was sent.
    value: JsonValue | None = None
    #: Why not, in words: the bridge's own reason or the transport's text; `None` when all went well.
    error: str | None = None
    applied: Applied = False
    #: Read back after the write, holding the value.
    confirmed: bool = False
    #: Times the write went out, a replay after a new login included.
    attempts: int = 0
    #: On a follow-up: what the inverter was found holding.
    found: JsonValue | None = None
    #: The transport the write went through: `cloud`, `dongle`, `modbus_tcp` or `modbus_rtu`; `None`
    #: when nothing was sent.
    via: str | None = None


def result_payload(command: Command, result: Result) -> str:
    """The JSON answer to one command.

    `ok` is true only when the inverter was read back holding the value (`confirmed`); `applied` says
    whether the value reached the inverter (`"unknown"` when the transport never answered).
    """
    error = result.error
    if error is not None and len(error) > MAX_ERROR_CHARS:
        error = error[:MAX_ERROR_CHARS] + "…"
    message: dict[str, object] = {
        "ok": error is None and result.confirmed,
        "outcome": result.outcome.value,
        "value": result.value,
        "requested": command.requested,
        "error": error,
        "applied": result.applied,
        "confirmed": result.confirmed,
        "attempts": result.attempts,
    }
    if result.found is not None:
        message["found"] = result.found
    if result.via is not None:
        message["via"] = result.via
    message["ts"] = datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    return json.dumps(message, ensure_ascii=False)
