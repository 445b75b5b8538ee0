"""The inverter's fault and warning codes in words. Input registers 60-61 (faults) and 62-63 (warnings) each
hold a 32-bit field, low word first, one bit per code: bit n of the faults is `E0nn`, of the warnings `W0nn`.
Several may be set at once. The cloud's runtime answer carries neither: they are read through a dongle or
an RS485 adapter.

Sources, bit by bit: pylxpweb (`constants/fault_codes.py`) and luxpower-ha-integration (`fault_codes.py`,
`warning_codes.py`) give the same text for every bit; lxp-bridge (`packet.rs`, `FaultCodeString`,
`WarningCodeString`) and the vendor's Modbus protocol (2025.03.05, tables 10-12) are compared with them.
A bit whose meaning they dispute is shown with both readings; a bit no source describes, by its code
alone. docs/SETTINGS.md repeats the disputed bits.
"""

from __future__ import annotations

from typing import Final

#: Fault bits whose text pylxpweb, luxpower-ha-integration, lxp-bridge and the vendor agree on (wording
#: aside).
FAULTS: Final[dict[int, str]] = {
    0: "Internal communication failure 1",
    1: "Model fault",
    8: "Parallel CAN communication failure",
    9: "The host is missing",
    11: "Inconsistent AC or safety settings in the parallel system",
    12: "UPS short circuit",
    13: "UPS reverse current",
    14: "BUS short circuit",
    15: "Abnormal phase in three-phase system",
    16: "Relay failure",
    17: "Internal communication failure 2",
    18: "Internal communication failure 3",
    19: "BUS overvoltage",
    20: "EPS connection fault",
    21: "PV overvoltage",
    22: "Overcurrent protection",
    23: "Neutral fault",
    24: "PV short circuit",
    25: "Heatsink temperature out of range",
    26: "Internal failure",
    27: "Consistency failure",
    # lxp-bridge calls 28 and 29 reserved; pylxpweb, luxpower-ha-integration and the vendor agree.
    28: "Inconsistent generator connection in the parallel system",
    29: "Parallel sync signal loss",
    31: "Internal communication failure 4",
}

#: Fault bits the sources read differently: every reading, named.
DISPUTED_FAULTS: Final[dict[int, str]] = {
    2: "described by lxp-bridge alone (BatOnMosFail); reserved for the vendor",
    3: "described by lxp-bridge alone (CT fail); reserved for the vendor",
    10: "sources disagree: inconsistent rated power in the parallel system (pylxpweb, "
    "luxpower-ha-integration) or multiple master units (lxp-bridge); the vendor names both",
}

WARNINGS: Final[dict[int, str]] = {
    0: "Battery communication failed",
    1: "AFCI communication failure",
    3: "Meter communication failed",
    4: "Battery cannot be charged or discharged",
    5: "Automated test failed",
    # lxp-bridge calls 6 and 14 reserved; pylxpweb, luxpower-ha-integration and the vendor agree.
    6: "RSD active",
    7: "LCD communication failure",
    8: "Software version mismatch",
    9: "Fan is stuck",
    11: "Number of parallel secondaries exceeds limit",
    14: "Multiple primary units set in the parallel system",
    15: "Battery reverse",
    16: "No grid connection",
    17: "Grid voltage out of range",
    18: "Grid frequency out of range",
    20: "Insulation resistance low",
    21: "Leakage current too high",
    22: "DC injection too high",
    23: "PV short circuit",
    25: "Battery overvoltage",
    26: "Battery undervoltage",
    27: "Battery open circuit",
    28: "EPS overload",
    29: "EPS voltage high",
    30: "Meter reversed",
    31: "DC voltage too high",
}

DISPUTED_WARNINGS: Final[dict[int, str]] = {
    2: "sources disagree: battery low temperature (pylxpweb, luxpower-ha-integration) or AFCI high "
    "(lxp-bridge)",
    10: "depends on the model: grid overload on three-phase models (vendor); reserved for lxp-bridge",
    12: "depends on the model: battery reverse MOS abnormal, or phase loss in an 8-12 kW parallel system "
    "(vendor)",
    13: "depends on the model: radiator temperature out of range, or no primary set in an 8-12 kW parallel "
    "system (vendor)",
    19: "described by the vendor alone (AC inconsistent in the parallel system)",
    24: "described by the vendor alone (GFCI module failure, three-phase models)",
}

#: Home Assistant keeps at most 255 characters of a state.
MAX_STATE_CHARS: Final = 255


def describe(code: int, prefix: str, agreed: dict[int, str], disputed: dict[int, str]) -> str:
    """Every set bit in words, `E012 UPS short circuit; ...`; `none` when no bit is set."""
    parts = []
    for bit in range(32):
        if code >> bit & 1:
            label = f"{prefix}{bit:03d}"
            words = agreed.get(bit) or disputed.get(bit)
            parts.append(f"{label} {words}" if words else f"{label} (no source describes it)")
    text = "; ".join(parts) or "none"
    return text if len(text) <= MAX_STATE_CHARS else text[: MAX_STATE_CHARS - 1] + "…"


def describe_faults(code: int) -> str:
    """A fault code (the inverter's fault bits) in words, `E012 UPS short circuit; ...`."""
    return describe(code, "E", FAULTS, DISPUTED_FAULTS)


def describe_warnings(code: int) -> str:
    """A warning code (the inverter's warning bits) in words, `W000 Battery communication failed; ...`."""
    return describe(code, "W", WARNINGS, DISPUTED_WARNINGS)
