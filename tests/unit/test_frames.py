"""The dongle's frame codec: CRC, lengths, every kind of data frame, both ways, and what it refuses."""

from __future__ import annotations

import re
import struct

import pytest

from bridge.local.frames import (
    Frame,
    FrameError,
    ModbusFunction,
    TcpFunction,
    crc16_modbus,
    decode,
    frame,
    read_reply,
    read_request,
    write_multiple_request,
    write_single_request,
)

DONGLE = "BA12345678"
INVERTER = "4512345600"


def test_the_crc_is_crc16_modbus() -> None:
    assert crc16_modbus(b"123456789") == 0x4B37  # the catalogued check value of CRC-16/MODBUS
    assert crc16_modbus(b"") == 0xFFFF


def test_a_read_request_is_laid_out_byte_by_byte() -> None:
    raw = read_request(DONGLE, INVERTER, ModbusFunction.READ_HOLDING, 101, 2)
    data = bytes([0, 3]) + INVERTER.encode() + struct.pack("<HH", 101, 2)
    assert raw == (
        b"\xa1\x1a" + struct.pack("<HH", 1, 14 + len(data) + 2) + b"\x01\xc2" + DONGLE.encode()
        + struct.pack("<H", len(data) + 2) + data + struct.pack("<H", crc16_modbus(data))
    )  # fmt: skip
    assert len(raw) == 38
    assert decode(raw) == Frame(
        TcpFunction.TRANSLATED, DONGLE, data, 1, action=0, modbus_function=3, inverter_serial=INVERTER, start=101,
        values=(2,),
    )  # fmt: skip


def test_replies_and_writes_decode_to_their_values() -> None:
    reply = decode(read_reply(DONGLE, INVERTER, ModbusFunction.READ_INPUT, 40, [1, 2, 65535]))
    assert (reply.action, reply.modbus_function, reply.start, reply.values) == (1, 4, 40, (1, 2, 65535))
    single = decode(write_single_request(DONGLE, INVERTER, 101, 80))
    assert (single.modbus_function, single.start, single.values) == (6, 101, (80,))
    multiple = decode(write_multiple_request(DONGLE, INVERTER, 68, [1, 0, 5, 30]))
    assert (multiple.modbus_function, multiple.start, multiple.values) == (16, 68, (1, 0, 5, 30))


def test_an_exception_reply_carries_its_code() -> None:
    data = bytes([1, 0x83]) + INVERTER.encode() + struct.pack("<H", 101) + bytes([2])
    decoded = decode(frame(TcpFunction.TRANSLATED, DONGLE, data))
    assert (decoded.modbus_function, decoded.exception, decoded.values) == (0x83, 2, ())


def test_a_heartbeat_is_decoded_as_what_it_is() -> None:
    beat = decode(frame(TcpFunction.HEARTBEAT, DONGLE, b"\x00", version=2))
    assert (beat.tcp_function, beat.dongle_serial, beat.version, beat.modbus_function) == (
        0xC1,
        DONGLE,
        2,
        None,
    )


def corrupt(raw: bytes, offset: int, value: int) -> bytes:
    return raw[:offset] + bytes([value]) + raw[offset + 1 :]


@pytest.mark.parametrize(
    ("mangle", "problem"),
    [
        (lambda raw: raw[:-1], "frame length says 32, the frame holds 31 bytes after it"),
        (lambda raw: b"\xa1\x1b" + raw[2:], "not a dongle frame: no A1 1A prefix or too short"),
        (lambda raw: raw[:10], "not a dongle frame: no A1 1A prefix or too short"),
        (lambda raw: corrupt(raw, 30, raw[30] ^ 1), "does not match the data's"),
        (lambda raw: corrupt(raw, 18, raw[18] + 1), "frame length 32 is not 14 + data length 19"),
    ],
)
def test_a_damaged_frame_is_refused_saying_what_is_wrong(mangle: object, problem: str) -> None:
    raw = read_request(DONGLE, INVERTER, ModbusFunction.READ_HOLDING, 101, 1)
    with pytest.raises(FrameError, match=re.escape(problem)):
        decode(mangle(raw))  # type: ignore[operator]


def test_a_serial_longer_than_ten_characters_is_refused() -> None:
    with pytest.raises(FrameError, match="a serial has at most 10 characters"):
        read_request("BA123456789", INVERTER, ModbusFunction.READ_HOLDING, 0, 1)
    with pytest.raises(FrameError, match="not a read function"):
        read_request(DONGLE, INVERTER, ModbusFunction.WRITE_SINGLE, 0, 1)


def test_a_read_reply_shorter_than_its_byte_count_is_refused() -> None:
    data = bytes([1, 3]) + INVERTER.encode() + struct.pack("<HB", 0, 8) + b"\x01\x00"
    with pytest.raises(FrameError, match="the reply says 8 bytes of values, it holds 2"):
        decode(frame(TcpFunction.TRANSLATED, DONGLE, data))
