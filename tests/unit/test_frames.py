"""The dongle's frame codec: CRC, lengths, every kind of data frame, both ways, and what it refuses."""

from __future__ import annotations

import re
import struct

import pytest

from bridge.transports.local.frames import (
    Frame,
    FrameError,
    ModbusFunction,
    TcpFunction,
    crc16_modbus,
    decode,
    frame,
    heartbeat,
    read_reply,
    read_request,
    write_multiple_request,
    write_single_request,
)

pytestmark = pytest.mark.unit

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


# Byte-exact frames from lxp-bridge's own tests (tests/test_packet.rs there): dongle serial "2222222222",
# inverter serial "5555555555". lxp-bridge sends a write-multiple with protocol version 2, and we with 1:
# the two bytes of the version are left out of that one comparison (the CRC covers the data frame alone).
LXP_DONGLE, LXP_INVERTER = "2222222222", "5555555555"
LXP_HEARTBEAT = "a11a02000d0001c13232323232323232323200"
LXP_READ_HOLD = "a11a0100200001c23232323232323232323212000003353535353535353535350c0003007026"
LXP_READ_HOLD_REPLY = "a11a0200250001c23232323232323232323217000103353535353535353535350c00061606140510395d87"
LXP_READ_INPUTS = "a11a0100200001c2323232323232323232321200000435353535353535353535000028002a84"
LXP_WRITE_SINGLE = "a11a0100200001c232323232323232323232120000063535353535353535353542006400883d"
LXP_WRITE_SINGLE_REPLY = "a11a0200200001c23232323232323232323212000106353535353535353535354200640049ad"
LXP_WRITE_MULTI = "a11a0200270001c23232323232323232323219000010353535353535353535350c000300061606131417217347"
LXP_WRITE_MULTI_REPLY = "a11a0200200001c23232323232323232323212000110353535353535353535350c000300e2bb"


def test_requests_are_byte_for_byte_those_of_lxp_bridge() -> None:
    holding, inputs = ModbusFunction.READ_HOLDING, ModbusFunction.READ_INPUT
    assert read_request(LXP_DONGLE, LXP_INVERTER, holding, 12, 3).hex() == LXP_READ_HOLD
    assert read_request(LXP_DONGLE, LXP_INVERTER, inputs, 0, 40).hex() == LXP_READ_INPUTS
    assert write_single_request(LXP_DONGLE, LXP_INVERTER, 66, 100).hex() == LXP_WRITE_SINGLE
    # lxp-bridge's values are bytes: 22, 6 | 19, 20 | 23, 33 are the registers 0x0616, 0x1413, 0x2117.
    multi = write_multiple_request(LXP_DONGLE, LXP_INVERTER, 12, [0x0616, 0x1413, 0x2117])
    expected = bytes.fromhex(LXP_WRITE_MULTI)
    assert multi[:2] + multi[4:] == expected[:2] + expected[4:]
    assert heartbeat(LXP_DONGLE).hex() == LXP_HEARTBEAT


def test_lxp_bridges_replies_decode_to_their_registers() -> None:
    hold = decode(bytes.fromhex(LXP_READ_HOLD_REPLY))
    assert (hold.version, hold.action, hold.inverter_serial, hold.start) == (2, 1, LXP_INVERTER, 12)
    assert hold.values == (0x0616, 0x0514, 0x3910)
    single = decode(bytes.fromhex(LXP_WRITE_SINGLE_REPLY))
    assert (single.modbus_function, single.start, single.values) == (ModbusFunction.WRITE_SINGLE, 66, (100,))
    multi = decode(bytes.fromhex(LXP_WRITE_MULTI_REPLY))
    assert (multi.modbus_function, multi.start, multi.values) == (ModbusFunction.WRITE_MULTIPLE, 12, (3,))
    beat = decode(bytes.fromhex(LXP_HEARTBEAT))
    assert (beat.tcp_function, beat.dongle_serial, beat.version) == (TcpFunction.HEARTBEAT, LXP_DONGLE, 2)


def test_short_serials_are_padded_with_zeros_on_the_right_and_read_back_without_them() -> None:
    request = read_request("BA1234", "45123", ModbusFunction.READ_HOLDING, 101, 1)
    assert request[8:18] == b"BA1234\x00\x00\x00\x00"
    assert request[22:32] == b"45123\x00\x00\x00\x00\x00"
    decoded = decode(request)
    assert (decoded.dongle_serial, decoded.inverter_serial) == ("BA1234", "45123")
    assert heartbeat("BA12")[8:18] == b"BA12\x00\x00\x00\x00\x00\x00"
    assert decode(heartbeat("BA12")).dongle_serial == "BA12"


def test_register_values_and_starts_are_unsigned_16_bit() -> None:
    for raw in (
        read_reply(DONGLE, INVERTER, ModbusFunction.READ_HOLDING, 40000, [0xBEEF, 0x8000, 0xFFFF]),
        write_multiple_request(DONGLE, INVERTER, 40000, [0xBEEF, 0x8000, 0xFFFF]),
    ):
        decoded = decode(raw)
        assert (decoded.start, decoded.values) == (40000, (0xBEEF, 0x8000, 0xFFFF))
    single = decode(write_single_request(DONGLE, INVERTER, 40000, 0xFFFF))
    assert (single.start, single.values) == (40000, (0xFFFF,))
    request = decode(read_request(DONGLE, INVERTER, ModbusFunction.READ_INPUT, 40000, 40))
    assert (request.start, request.values) == (40000, (40,))
    data = read_request(DONGLE, INVERTER, ModbusFunction.READ_HOLDING, 1, 1)[20:-2]
    assert decode(frame(TcpFunction.TRANSLATED, DONGLE, data, version=0x8001)).version == 0x8001
    assert heartbeat(DONGLE)[2:6] == b"\x02\x00\x0d\x00"


def test_serial_bytes_that_are_not_ascii_never_stop_the_decoder() -> None:
    data = bytes([1, 3]) + b"\xffAB1234567" + struct.pack("<HB", 101, 2) + struct.pack("<H", 60)
    decoded = decode(frame(TcpFunction.TRANSLATED, DONGLE, data))
    assert decoded.inverter_serial == "\ufffdAB1234567"
    assert decoded.values == (60,)
    outer = decode(frame(TcpFunction.READ_PARAMETER, DONGLE, b"\x07\x00"))
    assert (outer.tcp_function, outer.dongle_serial, outer.data) == (
        TcpFunction.READ_PARAMETER,
        DONGLE,
        b"\x07\x00",
    )


@pytest.mark.parametrize(
    ("raw", "problem"),
    [
        (
            heartbeat(DONGLE)[:8] + b"BA-1234567" + b"\x00",
            "a heartbeat whose serial is not letters and digits: b'BA-1234567'",
        ),
        (
            heartbeat(DONGLE)[:8] + b"\xc3\xa9A1234567" + b"\x00",
            "a heartbeat whose serial is not letters and digits",
        ),
        (
            b"\xa1\x1a\x01\x00\x0f\x00\x01\xc2" + b"BA12345678" + b"\x00\x00\x00",
            "a frame of function 0xc2 is too short: 21 bytes",
        ),
        (
            frame(TcpFunction.TRANSLATED, DONGLE, bytes([1, 3]) + INVERTER.encode() + b"\x65"),
            "a data frame has at least 14 bytes, got 13",
        ),
        (
            frame(TcpFunction.TRANSLATED, DONGLE, bytes([1, 0x83]) + INVERTER.encode() + b"\x65\x00"),
            "an exception reply without its code",
        ),
        (
            frame(TcpFunction.TRANSLATED, DONGLE, bytes([1, 6]) + INVERTER.encode() + b"\x65\x00\x01"),
            "a data frame of function 6 needs 16 bytes, got 15",
        ),
        (
            frame(
                TcpFunction.TRANSLATED,
                DONGLE,
                bytes([0, 16]) + INVERTER.encode() + struct.pack("<HHB", 12, 2, 4) + b"\x01\x00",
            ),
            "a write of 2 registers holds 2 bytes of values",
        ),
    ],
)
def test_malformed_frames_are_refused_with_the_reason(raw: bytes, problem: str) -> None:
    with pytest.raises(FrameError) as refused:
        decode(raw)
    assert str(refused.value).startswith(problem)


def test_the_smallest_data_frames_are_accepted() -> None:
    empty = decode(frame(TcpFunction.READ_PARAMETER, DONGLE, b""))  # 22 bytes: the shortest with a CRC
    assert empty.data == b""
    exception = decode(
        frame(TcpFunction.TRANSLATED, DONGLE, bytes([1, 0x86]) + INVERTER.encode() + b"\x65\x00\x02")
    )
    assert exception.exception == 2
    multiple = decode(
        frame(
            TcpFunction.TRANSLATED,
            DONGLE,
            bytes([0, 16]) + INVERTER.encode() + struct.pack("<HHB", 12, 1, 2) + b"\x07\x00",
        )
    )
    assert multiple.values == (7,)


def test_serials_keep_every_character_of_their_own() -> None:
    """Only the zero padding is taken off: a serial ending in X (or any letter) keeps it."""
    request = decode(read_request("BA1234567X", "451234560X", ModbusFunction.READ_HOLDING, 101, 1))
    assert (request.dongle_serial, request.inverter_serial) == ("BA1234567X", "451234560X")
    beat = decode(heartbeat("BA1234567X"))
    assert (beat.dongle_serial, beat.data) == ("BA1234567X", b"\x00")
    odd = bytearray(read_request(DONGLE, INVERTER, ModbusFunction.READ_HOLDING, 101, 1))
    odd[8] = 0xFF  # a dongle serial byte that is not ASCII, in a frame with a CRC
    assert decode(bytes(odd)).dongle_serial == "\ufffd" + DONGLE[1:]


def test_too_short_and_absurd_counts_are_refused_not_crashed_on() -> None:
    with pytest.raises(FrameError) as short:
        decode(b"\xa1\x1a\x01\x00")
    assert str(short.value) == "not a dongle frame: no A1 1A prefix or too short"
    absurd = bytes([0, 16]) + INVERTER.encode() + struct.pack("<HHB", 12, 0x8000, 0) + b"\x01\x00"
    with pytest.raises(FrameError) as counted:
        decode(frame(TcpFunction.TRANSLATED, DONGLE, absurd))
    assert str(counted.value) == "a write of 32768 registers holds 2 bytes of values"


def test_the_lengths_are_unsigned_16_bit_too() -> None:
    """No dongle sends such a frame, but the codec's lengths hold up to 65,535 like every other field."""
    big = frame(TcpFunction.READ_PARAMETER, DONGLE, bytes(40_000))
    assert struct.unpack_from("<HH", big, 4 - 2)[1] == 14 + 40_002
    assert len(decode(big).data) == 40_000
