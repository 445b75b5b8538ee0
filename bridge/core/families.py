"""Model families: which kind of inverter a device is, from what it says about itself. Plain data, no I/O.

A setting's meaning can differ between families (the off-grid models have no grid sell-back; Luxpower's own
sources read some registers in percent where the EG4 ones read kilowatts), so every setting row says, per
family, whether it is offered (`bridge.core.catalogue`). Where nothing identifies the family, only the
settings every family agrees on are offered.

Sources: the device type code (holding register 19, `HOLD_DEVICE_TYPE_CODE` in the cloud's parameters) and
its codes are pylxpweb's (`constants/registers.py`, `devices/inverters/_features.py`) and eg4_web_monitor's
(`_config_flow/discovery.py`); the model names by power rating are eg4_web_monitor's `docs/DATA_MAPPING.md`.
"""

from __future__ import annotations

import re
from enum import StrEnum
from typing import Final


class Family(StrEnum):
    """A model family: the kind of inverter, as far as which settings it has and what they mean."""

    EG4_HYBRID = "eg4_hybrid"
    EG4_OFF_GRID = "eg4_off_grid"
    LUXPOWER = "luxpower"
    #: Not an inverter: the GridBOSS (MID box), whose only settings are its smart ports'.
    GRIDBOSS = "gridboss"
    #: Nothing the device said identifies it: only what every family agrees on is offered.
    UNKNOWN = "unknown"

    @property
    def label(self) -> str:
        return FAMILY_LABELS[self]


FAMILY_LABELS: Final = {
    Family.EG4_HYBRID: "EG4 grid-tied hybrid (18kPV, 12kPV, FlexBOSS21/18)",
    Family.EG4_OFF_GRID: "EG4 off-grid (12000XP, 6000XP, SNA)",
    Family.LUXPOWER: "Luxpower (LXP)",
    Family.GRIDBOSS: "EG4 GridBOSS (MID box)",
    Family.UNKNOWN: "an unidentified model",
}

#: The families of the known families, in the order docs list them.
KNOWN_FAMILIES: Final = (Family.EG4_HYBRID, Family.EG4_OFF_GRID, Family.LUXPOWER)

#: Holding register 19, by value. pylxpweb and eg4_web_monitor agree on each code listed; 38 is pylxpweb's
#: ("a 6000XP variant reporting code 38 instead of 54"). 50 is the GridBOSS, which has no battery settings.
DEVICE_TYPE_CODES: Final[dict[int, Family]] = {
    2092: Family.EG4_HYBRID,  # 18kPV, 12kPV
    10284: Family.EG4_HYBRID,  # FlexBOSS21, FlexBOSS18
    54: Family.EG4_OFF_GRID,  # 12000XP, 6000XP, SNA12K
    38: Family.EG4_OFF_GRID,
    12: Family.LUXPOWER,  # LXP-EU
    44: Family.LUXPOWER,  # LXP-LB
}
#: Model names by (device type code, power rating), for an inverter reached without the cloud.
MODEL_NAMES: Final[dict[tuple[int, int], str]] = {
    (2092, 2): "12KPV",
    (2092, 6): "18KPV",
    (10284, 8): "FlexBOSS21",
    (10284, 9): "FlexBOSS18",
    (54, 6): "12000XP",
}
#: A model family's name for a code with no model name of its own.
CODE_NAMES: Final[dict[int, str]] = {2092: "EG4 hybrid", 10284: "FlexBOSS", 54: "EG4 XP", 38: "6000XP",
                                     12: "LXP-EU", 44: "LXP-LB"}  # fmt: skip

_OFF_GRID_MODEL: Final = re.compile(r"(?:^|[^A-Z])[0-9]+XP\b|^SNA")
_HYBRID_MODEL: Final = re.compile(r"FLEXBOSS|[0-9]+KPV")


def family_of_model(model: str) -> Family:
    """The family the cloud's model name (`deviceTypeText`: `18KPV`, `12000XP-US V2`, `LXP-LB-US 10K`,
    `SNA-US 12K`) belongs to, or `UNKNOWN`."""
    name = model.strip().upper()
    if name.startswith("LXP"):
        return Family.LUXPOWER
    if _OFF_GRID_MODEL.search(name):
        return Family.EG4_OFF_GRID
    if _HYBRID_MODEL.search(name):
        return Family.EG4_HYBRID
    return Family.UNKNOWN


def family_of_code(code: object) -> Family:
    """The family a device type code (register 19, as a number or the cloud's text) names, or `UNKNOWN`."""
    text = str(code).strip()
    if isinstance(code, bool) or not text.isdigit():
        return Family.UNKNOWN
    return DEVICE_TYPE_CODES.get(int(text), Family.UNKNOWN)


def identify(model: str, device_type_code: object = None) -> Family:
    """The device type code decides where it names a family; the model name otherwise. When both name one
    and they differ, nothing is trusted: `UNKNOWN` (offer only what every family agrees on)."""
    by_code = family_of_code(device_type_code)
    by_name = family_of_model(model)
    if by_code is Family.UNKNOWN:
        return by_name
    if by_name not in (Family.UNKNOWN, by_code):
        return Family.UNKNOWN
    return by_code


def model_name(device_type_code: int, power_rating: int) -> str | None:
    """The model an inverter's registers name (`18KPV`), its family's name when the rating is not listed
    (`LXP-LB`), or `None` for a code no source lists."""
    return MODEL_NAMES.get((device_type_code, power_rating)) or CODE_NAMES.get(device_type_code)
