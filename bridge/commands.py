"""Commands from `/set` topics: what was asked, how its payload is read, and the result message."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Final

from bridge.catalogue import WritableParameter
from bridge.errors import ParameterValueError

#: Longer payloads are refused unread: no number we accept needs more.
MAX_PAYLOAD_BYTES: Final = 64
#: How much of a payload a result echoes in `requested`.
REQUESTED_ECHO_CHARS: Final = 64
#: ASCII digits only: `\d` and Decimal would also take other scripts' digits, such as "߀" (N'Ko zero).
NUMBER: Final = re.compile(r"[+-]?(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
NOT_FINITE: Final = frozenset({"nan", "inf", "infinity"})


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


def read_number(payload: bytes, parameter: WritableParameter) -> Decimal:
    """The number in a payload (`80`, `80.0`, a JSON number), or `ParameterValueError` saying why not."""
    if len(payload) > MAX_PAYLOAD_BYTES:
        raise ParameterValueError(f"payload too long ({len(payload)} bytes; at most {MAX_PAYLOAD_BYTES})")
    try:
        text = payload.decode("utf-8").strip()
    except UnicodeDecodeError as exc:
        raise ParameterValueError("payload is not UTF-8 text") from exc
    if not text:
        raise ParameterValueError(f"empty payload: send a number of {parameter.unit}, such as 80")
    if NUMBER.fullmatch(text):
        return Decimal(text)
    if text.lower().lstrip("+-") in NOT_FINITE:
        raise ParameterValueError(f"{parameter.name} must be a finite number, got {text}")
    raise ParameterValueError(f"{parameter.name} must be a number such as 80, got {text[:32]!r}")


def result_payload(
    command: Command, *, value: int | None, error: str | None, confirmed: bool = False, attempts: int = 0
) -> str:
    """The JSON answer to one command.

    `ok` is true only when the inverter was read back holding the value; `confirmed` says that read-back
    matched; `attempts` is how many times the write was sent (more than one: an earlier attempt's outcome
    was unknown, so it may have been applied too).
    """
    return json.dumps(
        {
            "ok": error is None,
            "value": value,
            "requested": command.requested,
            "error": error,
            "confirmed": confirmed,
            "attempts": attempts,
            "ts": datetime.now(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z"),
        },
        ensure_ascii=False,
    )
