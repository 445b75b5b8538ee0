"""The dongle's frame codec: the outer frame (prefix, lengths, dongle serial, CRC-16/Modbus) around a
translated Modbus data frame (read holding or input registers, write one or several). Plain functions over
bytes, no I/O. Every integer is little-endian.

    outer: A1 1A | version(2) | length(2) = 14 + data length | 01 | TCP function | dongle serial(10)
           | data length(2) = data frame + 2 | data frame | CRC-16/Modbus of the data frame(2)
    data:  action (0 request, 1 response) | Modbus function | inverter serial(10) | start register(2) | ...
"""

from __future__ import annotations

import struct
from dataclasses import dataclass, replace
from enum import IntEnum
from typing import Final

PREFIX: Final = b"\xa1\x1a"
PROTOCOL_VERSION: Final = 1
ADDRESS: Final = 0x01
#: Outer bytes before the data frame: prefix, version, length, address, TCP function, serial, data length.
HEADER_SIZE: Final = 20
SERIAL_SIZE: Final = 10
#: A heartbeat's whole size: prefix, version, length, address, function, serial, one byte.
HEARTBEAT_SIZE: Final = 19
#: A Modbus function with this bit set is an exception reply; the code follows.
EXCEPTION_BIT: Final = 0x80


class TcpFunction(IntEnum):
    """The outer frame's function: a heartbeat, a translated Modbus frame, or a read or write of one of the
    dongle's own parameters."""

    HEARTBEAT = 0xC1
    TRANSLATED = 0xC2
    READ_PARAMETER = 0xC3
    WRITE_PARAMETER = 0xC4


_TCP_FUNCTIONS: Final = frozenset(int(function) for function in TcpFunction)


class ModbusFunction(IntEnum):
    """The Modbus functions a translated data frame carries: reads of registers, writes of one or several."""

    READ_HOLDING = 3
    READ_INPUT = 4
    WRITE_SINGLE = 6
    WRITE_MULTIPLE = 16


class FrameError(ValueError):
    """Bytes that are not a well-formed frame; the message says what is wrong."""


def _crc_table() -> tuple[int, ...]:
    table = []
    for value in range(256):
        crc = value
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
        table.append(crc)
    return tuple(table)


#: CRC-16/Modbus of every byte value from 0: one lookup a byte instead of eight shifts.
_CRC_TABLE: Final = _crc_table()


def crc16_modbus(data: bytes) -> int:
    """CRC-16/Modbus: reflected polynomial 0xA001, initial value 0xFFFF (table-driven)."""
    crc = 0xFFFF
    table = _CRC_TABLE
    for byte in data:
        crc = (crc >> 8) ^ table[(crc ^ byte) & 0xFF]
    return crc


#: The protocol versions frames carry: 1, and 2 for write-multiple requests (lxp-bridge).
VERSIONS: Final = frozenset({1, 2})


def plausible_header(header: bytes | bytearray) -> bool:
    """Whether the first `HEADER_SIZE` bytes (or a heartbeat's first 8) can start a frame: prefix, a known
    version, the address, a known TCP function, and, past a heartbeat, a data length that agrees with the
    frame length. Cheap checks, made before any CRC is computed over a claimed frame."""
    if len(header) < 8 or header[:2] != PREFIX or header[6] != ADDRESS:
        return False
    version, length = struct.unpack_from("<HH", header, 2)
    if version not in VERSIONS or header[7] not in _TCP_FUNCTIONS:
        return False
    if header[7] == TcpFunction.HEARTBEAT or len(header) < HEADER_SIZE:
        return True
    (data_length,) = struct.unpack_from("<H", header, 18)
    return bool(length == 14 + data_length)


def _serial(text: str) -> bytes:
    encoded = text.encode("ascii")
    if len(encoded) > SERIAL_SIZE:
        raise FrameError(f"a serial has at most {SERIAL_SIZE} characters, got {text!r}")
    return encoded.ljust(SERIAL_SIZE, b"\x00")


def frame(tcp_function: int, dongle_serial: str, data: bytes, *, version: int = PROTOCOL_VERSION) -> bytes:
    """An outer frame around `data` (a data frame, or a heartbeat's payload), with the data's CRC."""
    data_length = len(data) + 2
    return (
        PREFIX
        + struct.pack("<HH", version, 14 + data_length)
        + bytes([ADDRESS, tcp_function])
        + _serial(dongle_serial)
        + struct.pack("<H", data_length)
        + data
        + struct.pack("<H", crc16_modbus(data))
    )


def heartbeat(dongle_serial: str) -> bytes:
    """A heartbeat as dongles send it (and the cloud echoes it): the header up to the serial, then one zero
    byte; no data length and no CRC."""
    body = bytes([ADDRESS, TcpFunction.HEARTBEAT]) + _serial(dongle_serial) + b"\x00"
    return PREFIX + struct.pack("<HH", 2, len(body)) + body


def read_request(
    dongle_serial: str, inverter_serial: str, function: ModbusFunction, start: int, count: int
) -> bytes:
    """Read `count` holding or input registers from `start`."""
    if function not in (ModbusFunction.READ_HOLDING, ModbusFunction.READ_INPUT):
        raise FrameError(f"not a read function: {function}")
    data = bytes([0, function]) + _serial(inverter_serial) + struct.pack("<HH", start, count)
    return frame(TcpFunction.TRANSLATED, dongle_serial, data)


def write_single_request(dongle_serial: str, inverter_serial: str, register: int, value: int) -> bytes:
    """Write `value` to one holding register."""
    data = (
        bytes([0, ModbusFunction.WRITE_SINGLE])
        + _serial(inverter_serial)
        + struct.pack("<HH", register, value)
    )
    return frame(TcpFunction.TRANSLATED, dongle_serial, data)


def write_multiple_request(dongle_serial: str, inverter_serial: str, start: int, values: list[int]) -> bytes:
    """Write `values` to consecutive holding registers from `start`."""
    data = (
        bytes([0, ModbusFunction.WRITE_MULTIPLE])
        + _serial(inverter_serial)
        + struct.pack("<HHB", start, len(values), 2 * len(values))
        + b"".join(struct.pack("<H", value) for value in values)
    )
    return frame(TcpFunction.TRANSLATED, dongle_serial, data)


@dataclass(frozen=True, slots=True)
class Frame:
    """One decoded frame. For a translated Modbus frame, the data frame's fields are filled in."""

    tcp_function: int
    dongle_serial: str
    data: bytes
    version: int = PROTOCOL_VERSION
    action: int | None = None
    modbus_function: int | None = None
    inverter_serial: str | None = None
    start: int | None = None
    #: A read reply's register values; a write-single's value; a request's count.
    values: tuple[int, ...] = ()
    #: The Modbus exception code of an exception reply.
    exception: int | None = None


def decode(raw: bytes) -> Frame:
    """One whole frame, checked: prefix, both lengths, the CRC; `FrameError` says what is wrong. A
    heartbeat has neither data length nor CRC."""
    if len(raw) < HEARTBEAT_SIZE or raw[:2] != PREFIX:
        raise FrameError("not a dongle frame: no A1 1A prefix or too short")
    version, length = struct.unpack_from("<HH", raw, 2)
    if length != len(raw) - 6:
        raise FrameError(f"frame length says {length}, the frame holds {len(raw) - 6} bytes after it")
    if raw[7] == TcpFunction.HEARTBEAT:
        # No CRC guards a heartbeat: its serial must at least look like one, so that a stray prefix
        # followed by a real reply is not taken for a heartbeat that swallows the reply.
        serial = raw[8:18].rstrip(b"\x00")
        if not serial.isalnum() or not serial.isascii():
            raise FrameError(f"a heartbeat whose serial is not letters and digits: {serial!r}")
        return Frame(raw[7], serial.decode("ascii"), raw[18:], version)
    if len(raw) < HEADER_SIZE + 2:
        raise FrameError(f"a frame of function {raw[7]:#x} is too short: {len(raw)} bytes")
    (data_length,) = struct.unpack_from("<H", raw, 18)
    if length != 14 + data_length:
        raise FrameError(f"frame length {length} is not 14 + data length {data_length}")
    data, (crc,) = raw[HEADER_SIZE:-2], struct.unpack_from("<H", raw, len(raw) - 2)
    if crc != crc16_modbus(data):
        raise FrameError(f"CRC {crc:04X} does not match the data's {crc16_modbus(data):04X}")
    outer = Frame(raw[7], raw[8:18].rstrip(b"\x00").decode("ascii", "replace"), data, version)
    if raw[7] != TcpFunction.TRANSLATED:
        return outer
    return _data_frame(outer)


def _data_frame(outer: Frame) -> Frame:
    data = outer.data
    if len(data) < 14:
        raise FrameError(f"a data frame has at least 14 bytes, got {len(data)}")
    action, function = data[0], data[1]
    head = replace(
        outer,
        action=action,
        modbus_function=function,
        inverter_serial=data[2:12].rstrip(b"\x00").decode("ascii", "replace"),
        start=struct.unpack_from("<H", data, 12)[0],
    )
    if function & EXCEPTION_BIT:
        if len(data) < 15:
            raise FrameError("an exception reply without its code")
        return replace(head, exception=data[14])
    if action == 1 and function in (ModbusFunction.READ_HOLDING, ModbusFunction.READ_INPUT):
        count = data[14] // 2
        if len(data) < 15 + 2 * count:
            raise FrameError(f"the reply says {data[14]} bytes of values, it holds {len(data) - 15}")
        return replace(head, values=struct.unpack_from(f"<{count}H", data, 15))
    if len(data) < 16:
        raise FrameError(f"a data frame of function {function} needs 16 bytes, got {len(data)}")
    if function == ModbusFunction.WRITE_MULTIPLE and action == 0:
        count = struct.unpack_from("<H", data, 14)[0]
        if len(data) < 17 + 2 * count:
            raise FrameError(f"a write of {count} registers holds {len(data) - 17} bytes of values")
        return replace(head, values=struct.unpack_from(f"<{count}H", data, 17))
    return replace(head, values=struct.unpack_from("<H", data, 14))


def read_reply(
    dongle_serial: str, inverter_serial: str, function: ModbusFunction, start: int, values: list[int]
) -> bytes:
    """What the dongle answers to a read: a byte count, then the values."""
    data = (
        bytes([1, function])
        + _serial(inverter_serial)
        + struct.pack("<HB", start, 2 * len(values))
        + b"".join(struct.pack("<H", value) for value in values)
    )
    return frame(TcpFunction.TRANSLATED, dongle_serial, data)
