"""The battery modules' input registers: four slots of 30 registers from 5002, each one module as its BMS
reports it, in the cloud's raw numbers, so that one model (`BatteryModule`, which applies the scales) serves
the cloud's battery answer and the registers alike. Plain data and pure functions, no I/O.

Sources: pylxpweb `registers/battery.py` (@068e59c: base 5002, 30 a slot, 4 slots, "cross-validated against
Web API getBatteryInfo") and luxpower-ha (ant0nkr, `classes/lxp_batteries.py` @122bfc1, derived from dongle
captures) count from 5000 (`5000 + 30*block`, its offsets 2 higher): the same addresses. Offsets below are
pylxpweb's, from `5002 + 30*slot`. What only one of them reads, or reads otherwise, is said at its row.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal

from bridge.core.encodings import WORD
from bridge.core.readings import BatteryBank, BatteryModule, parse_battery_bank

#: The first register of slot 0, the registers a slot holds, and the slots. pylxpweb: "Slot 4 (address
#: 5122+) returns ExceptionResponse code 3"; luxpower-ha reads 4 blocks too. More modules than 4 take turns
#: in the slots (the firmware rotates them, both say).
FIRST: Final = 5002
SLOT_SIZE: Final = 30
SLOTS: Final = 4
ALL: Final = SLOTS * SLOT_SIZE

#: Offset 0: non-zero when a module sits in the slot (pylxpweb: "Any non-zero value means slot is
#: occupied"; its 0xC0nn reading is not universal, an LXP-LB-BR shows 0x0001, so only "non-zero" is used).
STATUS: Final = 0
#: Offset 16: firmware, high byte major, low byte minor, shown "2.17" (both sources, and the cloud's
#: `fwVersionText` for the same module).
FIRMWARE: Final = 16
#: Offsets 17-23 and the low byte of 24: the serial, ASCII, low byte first, up to 15 characters; a 0 byte
#: ends it (both sources; luxpower-ha cuts at the first 0, pylxpweb keeps printable bytes). The high byte of
#: offset 24 is a bank position (pylxpweb only), not part of the serial.
SERIAL: Final = 17
SERIAL_CHARACTERS: Final = 15


@dataclass(frozen=True, slots=True)
class ModuleField:
    """One raw number of the cloud's module answer, from one register of a slot: the whole word (two's
    complement when `signed`) or one byte of it."""

    offset: int
    signed: bool = False
    byte: Literal["low", "high"] | None = None

    def decode(self, slot: Sequence[int]) -> int:
        word = slot[self.offset]
        if self.byte == "low":
            return word & 0xFF
        if self.byte == "high":
            return word >> 8 & 0xFF
        return word - 0x10000 if self.signed and word > 0x7FFF else word

    def encode(self, value: int, slot: list[int]) -> None:
        if self.byte == "low":
            slot[self.offset] = slot[self.offset] & 0xFF00 | value & 0xFF
        elif self.byte == "high":
            slot[self.offset] = slot[self.offset] & 0x00FF | (value & 0xFF) << 8
        else:
            slot[self.offset] = value & WORD


#: By the cloud's field name (`BatteryModule`'s aliases): the same raw numbers, the same scales.
FIELDS: Final[Mapping[str, ModuleField]] = {
    "currentFullCapacity": ModuleField(1),  # Ah; both
    # V x10. pylxpweb alone (it maps it to the cloud's batChargeVoltRef); luxpower-ha does not read it.
    "batChargeVoltRef": ModuleField(2),
    "batChargeMaxCur": ModuleField(3),  # A x10; both
    "totalVoltage": ModuleField(6),  # V x100; both
    "current": ModuleField(7, signed=True),  # A x10, charging positive; both signed
    "soc": ModuleField(8, byte="low"),  # %; both
    "soh": ModuleField(8, byte="high"),  # %; both (pylxpweb shows 0 as 100: here 0 stays 0)
    "cycleCnt": ModuleField(9),  # both
    # °C x10. pylxpweb reads them signed, luxpower-ha unsigned. They differ only for words above 0x7FFF,
    # which unsigned would be 3276.8 °C or more, no cell's temperature; signed, a cell below 0 °C. So signed.
    "batMaxCellTemp": ModuleField(10, signed=True),
    "batMinCellTemp": ModuleField(11, signed=True),
    "batMaxCellVoltage": ModuleField(12),  # mV; both
    "batMinCellVoltage": ModuleField(13),  # mV; both
}
#: Offsets 4 (discharge current limit) and 5 (discharge cut-off voltage, pylxpweb only), 14-15 (which
#: cells are the hottest, coldest, highest, lowest) have no field in the cloud's module answer we read.


#: Reads in a row a module must be missing from to be gone. A page with every slot empty happens now and
#: then (eg4_web_monitor #287: "RR raw page: 0=empty 1=empty 2=empty 3=empty"; pylxpweb never forgets a
#: module for it), and more than four modules take turns in the slots: one read is no proof.
MISSED_READS: Final = 3


class Remembered:
    """The modules of the last reads, for one inverter: a module missing from a read stays in the bank,
    unavailable (`lost`), until it has been missing from `MISSED_READS` reads in a row."""

    def __init__(self) -> None:
        #: By module id: the module as last read, and the reads in a row it has been missing from since.
        self._known: dict[str, tuple[BatteryModule, int]] = {}

    def bank(self, read: BatteryBank) -> BatteryBank:
        present = {module.module_id: module for module in read.modules}
        kept: list[BatteryModule] = []
        for module_id, (module, missed) in list(self._known.items()):
            if module_id in present:
                continue
            if missed + 1 >= MISSED_READS:
                del self._known[module_id]
                continue
            self._known[module_id] = (module, missed + 1)
            kept.append(module.model_copy(update={"lost": True}))
        self._known.update({module_id: (module, 0) for module_id, module in present.items()})
        return read.model_copy(update={"modules": (*read.modules, *kept)})


def slot_starts() -> tuple[int, ...]:
    """The first register of each slot: one read each, when the whole block is refused."""
    return tuple(FIRST + SLOT_SIZE * slot for slot in range(SLOTS))


def decode_bank(words: Mapping[int, int], serial: str) -> BatteryBank:
    """The modules the slots hold, as the cloud's battery answer would give them. An empty slot (status 0)
    is none, nor is a ghost (status set, no voltage and no SOC: pylxpweb's rule). A module seen in two slots
    in one read (they rotate between reads of single slots) is kept once."""
    modules: dict[str, dict[str, Any]] = {}
    for index, slot in enumerate(_slots(words)):
        module = _module(slot, index)
        if module is not None:
            module_id = BatteryModule.model_validate(module).module_id
            modules.setdefault(module_id, module)
    return parse_battery_bank({"lost": False, "batteryArray": list(modules.values())}, serial)


def _slots(words: Mapping[int, int]) -> Iterator[list[int]]:
    for start in slot_starts():
        yield [words.get(start + offset, 0) for offset in range(SLOT_SIZE)]


def _module(slot: Sequence[int], index: int) -> dict[str, Any] | None:
    fields = {name: spec.decode(slot) for name, spec in FIELDS.items()}
    if not slot[STATUS] or not (fields["totalVoltage"] or fields["soc"]):
        return None
    return fields | {
        "batterySn": module_serial(slot),
        "batIndex": index,
        "fwVersionText": _firmware(slot[FIRMWARE]),
    }


def module_serial(slot: Sequence[int]) -> str:
    """The serial's characters: low byte first, to the first 0 byte; anything unprintable is dropped."""
    raw = bytearray()
    for word in slot[SERIAL : SERIAL + (SERIAL_CHARACTERS + 1) // 2]:
        raw += bytes((word & 0xFF, word >> 8 & 0xFF))
    text = bytes(raw[:SERIAL_CHARACTERS]).split(b"\0", 1)[0]
    return "".join(chr(byte) for byte in text if 0x20 <= byte < 0x7F).strip()


def _firmware(word: int) -> str | None:
    return f"{word >> 8}.{word & 0xFF:02d}" if word else None


def encode_bank(modules: Sequence[Mapping[str, Any]]) -> dict[int, int]:
    """The slots holding the cloud's module answers (raw numbers), the first in slot 0; the unused slots all
    0. For the simulator: the inverse of `decode_bank`."""
    words: dict[int, int] = {}
    for start, module in zip(slot_starts(), [*modules, *[None] * SLOTS], strict=False):
        slot = [0] * SLOT_SIZE
        if module is not None:
            _encode_module(module, slot)
        words.update(zip(range(start, start + SLOT_SIZE), slot, strict=True))
    return words


def _encode_module(module: Mapping[str, Any], slot: list[int]) -> None:
    slot[STATUS] = 0xC000 | 1  # "BMS connected" (pylxpweb); any non-zero value would do
    for name, spec in FIELDS.items():
        value = module.get(name)
        if isinstance(value, int) and not isinstance(value, bool):
            spec.encode(value, slot)
    major, _, minor = str(module.get("fwVersionText") or "0.0").partition(".")
    slot[FIRMWARE] = (int(major) & 0xFF) << 8 | int(minor or 0) & 0xFF
    text = str(module.get("batterySn", "")).encode("ascii", "replace")[:SERIAL_CHARACTERS].ljust(16, b"\0")
    for offset in range(8):
        slot[SERIAL + offset] = text[2 * offset] | text[2 * offset + 1] << 8
    slot[SERIAL + 7] |= (int(module.get("batIndex", 0)) & 0xFF) << 8  # the bank position (pylxpweb)
