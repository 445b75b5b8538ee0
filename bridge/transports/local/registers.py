"""What the inverter's registers hold, in the cloud's vocabulary: the settings' registers (each stated in its
row of `bridge.core.catalogue`, gathered here), the runtime fields' input registers, and the registers
that say which inverter it is. Read by the local transport (registers to values) and by the dongle
simulator (values to registers). Plain data and pure functions, no I/O.

Only encodings public implementations agree on are used (docs/SETTINGS.md names them). A setting whose
register holds something else than the cloud says, or whose layout the sources disagree on, has none: it is
read and written through the cloud, or not at all.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Final

from bridge.core.catalogue import SETTINGS
from bridge.core.encodings import WORD, ClockPart, Encoding, EncodingError, FieldValue, Flag, Scaled
from bridge.core.families import Family
from bridge.core.kinds import Offer

__all__ = ["BLOCK", "HOLDING", "ClockPart", "Encoding", "EncodingError", "FieldValue", "Flag", "Scaled"]

#: Registers are read in blocks of at most this many: what every firmware takes.
BLOCK: Final = 40

#: Holding registers, by the cloud's parameter name: taken from the settings' rows (`bridge.core.catalogue`),
#: the one place a setting's register is stated.
HOLDING: Final[Mapping[str, Encoding]] = {
    name: encoding for setting in SETTINGS for name, encoding in setting.local
}

#: The registers that say which inverter this is: the model bits (0-1, with the power rating) and the
#: device type code (19). pylxpweb and eg4_web_monitor agree on both (`bridge.core.families`).
IDENTITY_REGISTERS: Final = (0, 1, 19)
DEVICE_TYPE_CODE_REGISTER: Final = 19


def identity(words: Mapping[int, int]) -> tuple[int, int]:
    """The device type code and the power rating the identity registers hold. The rating: bits 5-7 of
    register 0, plus 8 when bit 8 of register 1 is set (eg4_web_monitor's docs/DATA_MAPPING.md)."""
    rating = (words[0] & 0xFF) >> 5 & 0x7
    if words[1] & 0x100:
        rating += 8
    return words[DEVICE_TYPE_CODE_REGISTER], rating


@dataclass(frozen=True, slots=True)
class Input:
    """A runtime field as the cloud's runtime or energy answer gives it (raw: tenths stay tenths), from one
    input register, a pair (32 bits, low word first), a byte, or the sum of several."""

    registers: tuple[int, ...]
    wide: bool = False
    low_byte: bool = False
    signed: bool = False

    def decode(self, words: Mapping[int, int]) -> int:
        if self.wide:
            return sum(words[first] | words[first + 1] << 16 for first in self.registers)
        total = 0
        for register in self.registers:
            word = words[register]
            if self.low_byte:
                word &= 0xFF
            elif self.signed and word > 0x7FFF:
                word -= 0x10000
            total += word
        return total

    @property
    def spans(self) -> tuple[int, ...]:
        """Every register it reads."""
        return tuple(
            register + offset for register in self.registers for offset in ((0, 1) if self.wide else (0,))
        )


#: Input registers, by the cloud's runtime (and energy) answer field.
INPUTS: Final[Mapping[str, Input]] = {
    "vpv1": Input((1,)),
    "vpv2": Input((2,)),
    "vpv3": Input((3,)),
    "vBat": Input((4,)),
    "soc": Input((5,), low_byte=True),
    "ppv1": Input((7,)),
    "ppv2": Input((8,)),
    "ppv3": Input((9,)),
    "ppv": Input((7, 8, 9)),
    "pCharge": Input((10,)),
    "pDisCharge": Input((11,)),
    "vacr": Input((12,)),
    "fac": Input((15,)),
    "peps": Input((24,)),
    "pToGrid": Input((26,)),
    "pToUser": Input((27,)),
    "tinner": Input((64,), signed=True),
    "tradiator1": Input((65,)),
    "tradiator2": Input((66,)),
    "tBat": Input((67,), signed=True),
    "maxChgCurrValue": Input((81,)),
    # No cloud answer names these: the bridge's own names. One bit per code (`bridge.core.faults`).
    "faultCode": Input((60,), wide=True),
    "warningCode": Input((62,), wide=True),
    "maxDischgCurrValue": Input((82,)),
    # Energy, tenths of kWh: today's counters, then the lifetime ones (32 bits).
    "todayYielding": Input((28, 29, 30)),
    "todayCharging": Input((33,)),
    "todayDischarging": Input((34,)),
    "todayExport": Input((36,)),
    "todayImport": Input((37,)),
    "totalYielding": Input((40, 42, 44), wide=True),
    "totalCharging": Input((50,), wide=True),
    "totalDischarging": Input((52,), wide=True),
    "totalExport": Input((56,), wide=True),
    "totalImport": Input((58,), wide=True),
}
RUNTIME_FIELDS: Final = tuple(name for name in INPUTS if not name.startswith(("today", "total")))
ENERGY_FIELDS: Final = tuple(name for name in INPUTS if name.startswith(("today", "total")))


@functools.cache
def holding_of(family: Family) -> tuple[str, ...]:
    """The parameters a settings read of a `family` inverter reads: not those of settings its sources say
    it lacks (a Luxpower's firmware need not answer for registers no Luxpower source names). A model not
    identified is read whole: what it is offered is decided after."""
    if family is Family.UNKNOWN:
        return tuple(HOLDING)
    return tuple(
        name
        for setting in SETTINGS
        if setting.provenance.offer(family)[0] is not Offer.ABSENT
        for name, _encoding in setting.local
    )


def has_local_encoding(field_names: tuple[str, ...]) -> bool:
    return all(name in HOLDING for name in field_names)


def holding_registers(names: tuple[str, ...]) -> tuple[int, ...]:
    """The registers holding these parameters, sorted, once each."""
    return tuple(sorted({HOLDING[name].register for name in names}))


def shared_registers(names: tuple[str, ...]) -> tuple[int, ...]:
    """The registers these parameters share with others (flags, schedule bytes): a write must read them
    first to keep the rest. A scaled value fills its register alone."""
    return tuple(sorted({HOLDING[name].register for name in names if HOLDING[name].shares_register}))


def input_registers(names: tuple[str, ...]) -> tuple[int, ...]:
    return tuple(sorted({register for name in names for register in INPUTS[name].spans}))


def blocks(
    registers: tuple[int, ...], size: int, *, avoiding: frozenset[int] = frozenset()
) -> tuple[tuple[int, int], ...]:
    """The fewest reads of at most `size` registers (start, count) that cover `registers` and span none of
    `avoiding` (registers the firmware refuses to be read)."""
    found: list[tuple[int, int]] = []
    for register in sorted(set(registers)):
        if (
            found
            and register < found[-1][0] + size
            and not any(found[-1][0] <= refused < register for refused in avoiding)
        ):
            start = found[-1][0]
            found[-1] = (start, register - start + 1)
        else:
            found.append((register, 1))
    return tuple(found)


def decode_holding(names: tuple[str, ...], words: Mapping[int, int]) -> dict[str, FieldValue]:
    """The parameters' values as the cloud would give them, from the registers read."""
    return {name: HOLDING[name].decode(words) for name in names}


def decode_inputs(names: tuple[str, ...], words: Mapping[int, int]) -> dict[str, FieldValue]:
    return {name: INPUTS[name].decode(words) for name in names}


def encode_holding(values: Mapping[str, FieldValue], words: Mapping[int, int]) -> dict[int, int]:
    """The registers to write so that they hold `values` (cloud names and values), starting from what
    they hold now (`words`): flags and packed bytes keep their neighbours. `EncodingError` if a value has
    no encoding."""
    merged = dict(words)
    changed: dict[int, int] = {}
    for name, value in values.items():
        update = HOLDING[name].encode(value, merged)
        merged.update(update)
        changed.update(update)
    return changed


def encode_inputs(values: Mapping[str, FieldValue]) -> dict[int, int]:
    """Input registers holding `values` (the inverse of `decode_inputs`, for the dongle simulator). A sum
    over several registers is put in the first of them, unless a field of its own fills them."""
    words: dict[int, int] = {}
    singles = [(name, spec) for name, spec in INPUTS.items() if len(spec.registers) == 1]
    sums = [(name, spec) for name, spec in INPUTS.items() if len(spec.registers) > 1]
    for name, spec in singles + sums:
        value = values.get(name)
        if not isinstance(value, int) or isinstance(value, bool) or set(spec.spans) & words.keys():
            continue
        spread = dict.fromkeys(spec.spans, 0)
        first = spec.registers[0]
        if spec.wide:
            spread[first], spread[first + 1] = value & WORD, value >> 16 & WORD
        else:
            spread[first] = value & WORD  # a negative temperature as two's complement
        words.update(spread)
    return words
