"""What an inverter is, as every side of the bridge knows it: the transports describe one, MQTT announces it.

Plain data with no I/O, so that the MQTT side needs no transport's models.
"""

from __future__ import annotations

from dataclasses import dataclass

from bridge.core.families import Family


@dataclass(frozen=True, slots=True)
class Device:
    """One inverter with battery settings."""

    serial: str
    model: str
    #: The firmware code as the vendor writes it (`fAAB-2122`), when known.
    firmware: str | None = None
    #: The model family, from the model name and, once its settings were read, its device type code.
    family: Family = Family.UNKNOWN
    #: The parallel group it belongs to (`<plant id>_<group name>`), as the cloud's login answer says.
    parallel_group: str | None = None
