"""What the inverter's registers hold, in the cloud's vocabulary: each cloud parameter or runtime field the
bridge uses, with its register and encoding. Declared once; read by the local transport (registers to
values) and by the dongle simulator (values to registers). Plain data and pure functions, no I/O.

Only encodings two public implementations agree on are listed (pylxpweb's register tables and lxp-bridge;
see docs/LOCAL.md). A setting whose register holds something else than the cloud says, or whose layout
the sources disagree on, is left out: it is read and written through the cloud, or not at all.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Final

#: A value as the cloud gives it: `HOLD_*` text in the cloud's units, `FUNC_*` booleans, runtime integers.
CloudValue = str | bool | int | float

#: Registers are read in blocks of at most this many: what every firmware takes.
BLOCK: Final = 40
WORD: Final = 0xFFFF


class EncodingError(ValueError):
    """A value that has no register encoding (out of range, not a multiple of the register's unit)."""


@dataclass(frozen=True, slots=True)
class Scaled:
    """A whole register holding the cloud's number times `factor` (`7.5` kW is `75` for factor 10)."""

    register: int
    factor: int = 1

    def decode(self, words: Mapping[int, int]) -> str:
        return format((Decimal(words[self.register]) / self.factor).normalize(), "f")

    def encode(self, value: CloudValue, words: Mapping[int, int]) -> dict[int, int]:
        try:
            raw = Decimal(str(value)) * self.factor
        except InvalidOperation as exc:
            raise EncodingError(f"{value!r} is not a number") from exc
        if raw != raw.to_integral_value() or not 0 <= raw <= WORD:
            raise EncodingError(f"{value} has no encoding in register {self.register} (x{self.factor})")
        return {self.register: int(raw)}


@dataclass(frozen=True, slots=True)
class Flag:
    """One bit of a register of flags (`FUNC_*`): true when set. Writing it keeps the other bits."""

    register: int
    bit: int

    def decode(self, words: Mapping[int, int]) -> bool:
        return bool(words[self.register] >> self.bit & 1)

    def encode(self, value: CloudValue, words: Mapping[int, int]) -> dict[int, int]:
        mask = 1 << self.bit
        current = words[self.register]
        return {self.register: current | mask if value is True else current & ~mask & WORD}


@dataclass(frozen=True, slots=True)
class ClockPart:
    """The hour (low byte) or the minute (high byte) of a packed schedule boundary register."""

    register: int
    high_byte: bool
    highest: int

    def decode(self, words: Mapping[int, int]) -> str:
        word = words[self.register]
        return f"{(word >> 8 if self.high_byte else word & 0xFF):02d}"

    def encode(self, value: CloudValue, words: Mapping[int, int]) -> dict[int, int]:
        text = str(value).strip()
        if isinstance(value, bool) or not text.isdigit() or int(text) > self.highest:
            raise EncodingError(f"{value!r} is not an hour or minute")
        word, number = words[self.register], int(text)
        packed = (word & 0xFF) | number << 8 if self.high_byte else (word & 0xFF00) | number
        return {self.register: packed}


Encoding = Scaled | Flag | ClockPart


# pragma: no mutate start
# Runs at import, building the table below: mutmut cannot reach it there; a unit test pins every entry.
def _windows(prefix: str, first_register: int) -> dict[str, ClockPart]:
    """The three windows of a schedule: start and end boundaries in consecutive registers."""
    parts: dict[str, ClockPart] = {}
    for number, suffix in enumerate(("", "_1", "_2")):
        for offset, edge in enumerate(("START", "END")):
            register = first_register + 2 * number + offset
            parts[f"{prefix}_{edge}_HOUR{suffix}"] = ClockPart(register, high_byte=False, highest=23)
            parts[f"{prefix}_{edge}_MINUTE{suffix}"] = ClockPart(register, high_byte=True, highest=59)
    return parts


# pragma: no mutate end


#: Holding registers, by the cloud's parameter name.
HOLDING: Final[Mapping[str, Encoding]] = {
    "HOLD_AC_CHARGE_POWER_CMD": Scaled(66, 10),  # kW; the register counts 100 W
    "HOLD_AC_CHARGE_SOC_LIMIT": Scaled(67),
    **_windows("HOLD_AC_CHARGE", 68),
    "HOLD_FORCED_CHG_POWER_CMD": Scaled(74, 10),
    "HOLD_FORCED_DISCHG_POWER_CMD": Scaled(82, 10),
    "HOLD_LEAD_ACID_CHARGE_RATE": Scaled(101),
    "HOLD_LEAD_ACID_DISCHARGE_RATE": Scaled(102),
    "HOLD_DISCHG_CUT_OFF_SOC_EOD": Scaled(105),
    "HOLD_SOC_LOW_LIMIT_EPS_DISCHG": Scaled(125),
    "_12K_HOLD_GRID_PEAK_SHAVING_POWER": Scaled(206, 10),
    "HOLD_SYSTEM_CHARGE_SOC_LIMIT": Scaled(227),
    "HOLD_SYSTEM_CHARGE_VOLT_LIMIT": Scaled(228, 10),  # V; the register counts 0.1 V
    "FUNC_EPS_EN": Flag(21, 0),
    "FUNC_AC_CHARGE": Flag(21, 7),
    "FUNC_SET_TO_STANDBY": Flag(21, 9),  # set: normal operation
    "FUNC_FORCED_DISCHG_EN": Flag(21, 10),
    "FUNC_FORCED_CHG_EN": Flag(21, 11),
    "FUNC_FEED_IN_GRID_EN": Flag(21, 15),
    "FUNC_CHARGE_LAST": Flag(110, 4),
    "FUNC_GRID_PEAK_SHAVING": Flag(179, 7),
    "FUNC_BAT_CHARGE_CONTROL": Flag(179, 9),
    "FUNC_BAT_DISCHARGE_CONTROL": Flag(179, 10),
    "FUNC_BATTERY_BACKUP_CTRL": Flag(233, 1),
}


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


def has_local_encoding(cloud_names: tuple[str, ...]) -> bool:
    return all(name in HOLDING for name in cloud_names)


def holding_registers(names: tuple[str, ...]) -> tuple[int, ...]:
    """The registers holding these parameters, sorted, once each."""
    return tuple(sorted({HOLDING[name].register for name in names}))


def input_registers(names: tuple[str, ...]) -> tuple[int, ...]:
    return tuple(sorted({register for name in names for register in INPUTS[name].spans}))


def blocks(registers: tuple[int, ...], size: int) -> tuple[tuple[int, int], ...]:
    """The fewest reads of at most `size` registers (start, count) that cover `registers`."""
    found: list[tuple[int, int]] = []
    for register in sorted(set(registers)):
        if found and register < found[-1][0] + size:
            start = found[-1][0]
            found[-1] = (start, register - start + 1)
        else:
            found.append((register, 1))
    return tuple(found)


def decode_holding(names: tuple[str, ...], words: Mapping[int, int]) -> dict[str, CloudValue]:
    """The parameters' values as the cloud would give them, from the registers read."""
    return {name: HOLDING[name].decode(words) for name in names}


def decode_inputs(names: tuple[str, ...], words: Mapping[int, int]) -> dict[str, CloudValue]:
    return {name: INPUTS[name].decode(words) for name in names}


def encode_holding(values: Mapping[str, CloudValue], words: Mapping[int, int]) -> dict[int, int]:
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


def encode_inputs(values: Mapping[str, CloudValue]) -> dict[int, int]:
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
