"""How a setting's value sits in the inverter's holding registers: a scaled whole number, one bit of a
register of flags, or the hour or minute byte of a packed schedule boundary. Plain data and pure functions,
read by the catalogue's rows (each row names its own encoding) and by every transport that speaks registers.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import ClassVar, Final

#: A value in the vendor's terms: `HOLD_*` text in the vendor's units, `FUNC_*` booleans, runtime integers.
FieldValue = str | bool | int | float

WORD: Final = 0xFFFF


class EncodingError(ValueError):
    """A value that has no register encoding (out of range, not a multiple of the register's unit)."""


@dataclass(frozen=True, slots=True)
class Scaled:
    """A whole register holding the vendor's number times `factor` (`7.5` kW is `75` for factor 10)."""

    register: int
    factor: int = 1

    def decode(self, words: Mapping[int, int]) -> str:
        return format((Decimal(words[self.register]) / self.factor).normalize(), "f")

    #: The register holds this value alone: writing it needs nothing read first.
    shares_register: ClassVar[bool] = False

    def encode(self, value: FieldValue, words: Mapping[int, int]) -> dict[int, int]:
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

    #: Other flags live in the same register: a write keeps them, so it reads the register first.
    shares_register: ClassVar[bool] = True

    def decode(self, words: Mapping[int, int]) -> bool:
        return bool(words[self.register] >> self.bit & 1)

    def encode(self, value: FieldValue, words: Mapping[int, int]) -> dict[int, int]:
        mask = 1 << self.bit
        current = words[self.register]
        return {self.register: current | mask if value is True else current & ~mask & WORD}


@dataclass(frozen=True, slots=True)
class ClockPart:
    """The hour (low byte) or the minute (high byte) of a packed schedule boundary register."""

    register: int
    high_byte: bool
    highest: int

    #: The other byte is the boundary's minute or hour: a write keeps it, so it reads the register first.
    shares_register: ClassVar[bool] = True

    def decode(self, words: Mapping[int, int]) -> str:
        word = words[self.register]
        return f"{(word >> 8 if self.high_byte else word & 0xFF):02d}"

    def encode(self, value: FieldValue, words: Mapping[int, int]) -> dict[int, int]:
        text = str(value).strip()
        if isinstance(value, bool) or not text.isdigit() or int(text) > self.highest:
            raise EncodingError(f"{value!r} is not an hour or minute")
        word, number = words[self.register], int(text)
        packed = (word & 0xFF) | number << 8 if self.high_byte else (word & 0xFF00) | number
        return {self.register: packed}


Encoding = Scaled | Flag | ClockPart
